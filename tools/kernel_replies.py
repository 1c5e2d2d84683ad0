"""Wait for a kernel's messages in short polls: a workaround for a lost wake-up in jupyter_client.

nbclient waits for a cell's reply with one poll of the shell socket, as long as the cell's time
limit, while it polls the IOPub socket at the same time. After a cell that opens widgets (many
IOPub messages at once) that poll sometimes misses the reply's arrival and returns only when
its time limit runs out, and then finds the reply waiting (nbclient issue 312; seen here: two
minutes lost after the exploration cell of Diffusion models, in grading and in the benchmark,
with the kernel idle all along). :func:`install` makes every asyncio channel of jupyter_client
wait in polls of at most :data:`SLICE` seconds, each of which looks at the socket afresh, up to
the same overall limit: a reply that arrived is taken within a slice.

Used wherever this repository runs notebooks with nbclient: the grader's runner in the sandbox
(``sandbox_run.py``), the benchmark and the build's parallel execution (``build_book.py``).
"""

import time
from queue import Empty

#: The longest single poll, in seconds.
SLICE = 0.5


def install():
    """Patch ``jupyter_client``'s asyncio channels (once per process) to poll in slices."""
    from jupyter_client.channels import AsyncZMQSocketChannel

    if getattr(AsyncZMQSocketChannel.get_msg, "in_slices", False):
        return
    single_poll = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = SLICE if deadline is None else min(SLICE, max(0.0, deadline - time.monotonic()))
            try:
                return await single_poll(self, timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    get_msg.in_slices = True
    get_msg.__doc__ = single_poll.__doc__
    AsyncZMQSocketChannel.get_msg = get_msg
