"""Jobs: screening that outlives the request. An upload is spooled to the data directory,
its row waits in the database (SQLite or PostgreSQL), a replica claims it with a lease and
screens it through the shared screener, and the result is kept, polled or sent to a
signed webhook, until the retention expires."""
