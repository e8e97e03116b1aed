"""The embedded broker: kombu's ``filesystem://`` transport, with atomic message files.

kombu's filesystem channel creates a message file and then writes into it. A worker polling the
folder can move and read the file in between, get an empty message and stop with
"Unrecoverable error: JSONDecodeError" (kombu issue #1551); on a busy machine, and with a chain
or chord publishing several messages at once, that happens within minutes. Here a message is
written under a name the reader skips (``*.msg.part``) and then renamed into place
(``os.replace`` is atomic within a folder), so a reader only ever sees whole messages. Reading,
acknowledging and the folder layout are kombu's own.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # The same signature as kombu's filesystem channel, which itself differs from its base.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Put ``payload`` onto ``queue``: write ``<name>.part``, then rename it to ``<name>``."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = f"{final}.part"
        try:
            with open(partial, "wb") as out:
                out.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
