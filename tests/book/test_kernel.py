"""A hung kernel fails fast, with a message that says so, instead of stalling the test run."""

import asyncio
import time
from queue import Empty

import nbformat
import pytest

import book_files


def test_a_hung_cell_fails_at_the_cell_timeout(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("print(1)"), nbformat.v4.new_code_cell("import time\ntime.sleep(600)")]
    path = tmp_path / "hang.ipynb"
    nbformat.write(nb, path)
    proc = book_files.run_nbval(path, timeout=120, cell_timeout=3)
    assert proc.returncode not in (0, -1), "the cell timeout, not the overall one, must stop the run"
    assert "Timeout" in proc.stdout or "timed out" in proc.stdout, proc.stdout[-2000:]


class _MissedWakeUp:
    """A socket whose message arrives at ``arrival`` s: a poll begun before then never sees it
    (the lost wake-up of nbclient issue 312), one begun after it sees it at once."""

    def __init__(self, arrival):
        self.start, self.arrival = time.monotonic(), arrival

    async def poll(self, timeout_ms):
        if time.monotonic() - self.start > self.arrival:
            return 1
        await asyncio.sleep(timeout_ms / 1000)
        return 0


def _channel(socket):
    from jupyter_client.channels import AsyncZMQSocketChannel

    channel = AsyncZMQSocketChannel.__new__(AsyncZMQSocketChannel)
    channel.socket = socket

    async def recv():
        return {"msg_type": "execute_reply"}

    channel._recv = recv
    return channel


def test_a_reply_that_a_poll_misses_is_taken_within_a_slice():
    import kernel_replies

    kernel_replies.install()
    kernel_replies.install()                          # a second call changes nothing
    start = time.monotonic()
    # With one poll as long as the cell's limit, the reply would wait the whole 60 s.
    assert asyncio.run(_channel(_MissedWakeUp(0.2)).get_msg(timeout=60)) == {"msg_type": "execute_reply"}
    assert time.monotonic() - start < 0.2 + 2 * kernel_replies.SLICE
    # The overall limit is kept: no message, Empty at the limit.
    start = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(_channel(_MissedWakeUp(1e9)).get_msg(timeout=1.2))
    assert 1.2 <= time.monotonic() - start < 1.2 + kernel_replies.SLICE
