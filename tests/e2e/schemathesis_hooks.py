"""schemathesis hooks (SCHEMATHESIS_HOOKS): generated uploads carry a real video.

No JSON Schema says "a decodable video", so schemathesis makes random bytes or a tiny PNG,
and every upload would be refused before decoding. Each generated binary (a `video/*` body
or a multipart `file` part) becomes the clip in `SCHEMATHESIS_VIDEO`, so that generated
options reach the decoder and answers reach the ScreenResponse schema check. A binary is
never what makes a case negative (that is a missing or mistyped part), so the swap keeps
every case's meaning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.transport.serialization import Binary

VIDEO = Binary(Path(os.environ["SCHEMATHESIS_VIDEO"]).read_bytes())


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    if isinstance(body, Binary):
        return VIDEO
    if isinstance(body, dict) and isinstance(body.get("file"), Binary):
        return body | {"file": VIDEO}
    return body
