"""Pipelined SFTP reads: many read requests in flight, answered on the calling thread (issue 14).

A sequential ``SFTPFile.read`` costs one network round trip per request, so over a 20 ms link a
download crawls at request size / RTT whatever the bandwidth. OpenSSH's ``sftp`` keeps up to 64
requests outstanding; :func:`read_pipelined` does the same.

Why not paramiko's own ``prefetch``/``readv``: they send the requests from a background thread.
When the connection drops mid-file that thread dies with an unhandled exception (a traceback on
stderr) and the reader may wait on data that never comes. Here every request is sent and every
answer read on the caller's thread, with paramiko's channel timeout bounding each wait, so a drop
surfaces right here as an exception the caller maps to the retryable ``SftpUnavailable``.

The data is written strictly in file order (answers that arrive early wait in a small buffer of at
most ``window`` requests), so the caller can write it to a plain file object. A short answer (a
server may return less than asked) is followed by a request for the rest; an ``EOF`` before
``size`` ends the read early and the caller's size check reports it.

This uses paramiko's request/answer plumbing (``_async_request``/``_read_response``), the same
calls its ``SFTPFile`` prefetch uses; it is pinned by tests/test_sftp.py against a real sshd.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import paramiko
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, SFTPError, int64

#: Bytes asked for in one read request. OpenSSH's sftp-server answers up to 255 KiB per read
#: (its ``limits@openssh.com``); larger requests mean fewer Python-level packets per megabyte.
REQUEST_BYTES = 1 << 17
#: Requests kept in flight (OpenSSH's ``sftp -R`` default is 64 of 32 KiB).
WINDOW = 32


class _Answers:
    """Collects the answers paramiko hands to ``_async_response`` for our requests."""

    def __init__(self, sftp: paramiko.SFTPClient) -> None:
        self.sftp = sftp
        self.got: dict[int, bytes | BaseException] = {}

    def _async_response(self, t: int, msg: paramiko.Message, num: int) -> None:
        if t == CMD_DATA:
            self.got[num] = msg.get_string()
        elif t == CMD_STATUS:
            try:
                self.sftp._convert_status(msg)  # raises EOFError at the end, OSError on errors
                self.got[num] = SFTPError("the server answered a read with OK but no data")
            except Exception as exc:  # kept and raised in file order by read_pipelined
                self.got[num] = exc
        else:
            self.got[num] = SFTPError(f"unexpected answer type {t} to a read")


def read_pipelined(
    sftp: paramiko.SFTPClient,
    handle: bytes,
    size: int,
    write: Callable[[bytes], object],
    *,
    request_bytes: int = REQUEST_BYTES,
    window: int = WINDOW,
) -> int:
    """Read the first ``size`` bytes of the open file ``handle`` into ``write``, in order.

    Returns the number of bytes written (less than ``size`` when the file ended early). Raises
    what paramiko raises when the connection fails (SSHException, OSError, EOFError, a timeout),
    or the server's error for a read.
    """
    answers = _Answers(sftp)
    pending: deque[tuple[int, int, int]] = deque()  # (request number, offset, length)
    next_offset = 0
    received = 0

    def ask(offset: int, length: int) -> int:
        return sftp._async_request(answers, CMD_READ, handle, int64(offset), int(length))  # type: ignore[no-any-return]

    while received < size:
        while len(pending) < window and next_offset < size:
            length = min(request_bytes, size - next_offset)
            pending.append((ask(next_offset, length), next_offset, length))
            next_offset += length
        num, offset, length = pending[0]
        while num not in answers.got:
            sftp._read_response()  # one answer, bounded by the channel timeout
        pending.popleft()
        data = answers.got.pop(num)
        if isinstance(data, EOFError):
            break  # the file is shorter than listed: the caller's size check says so
        if isinstance(data, BaseException):
            raise data
        if not data:
            break
        write(data)
        received += len(data)
        if len(data) < length:  # a short answer: ask for the rest before anything else
            rest = offset + len(data)
            pending.appendleft((ask(rest, length - len(data)), rest, length - len(data)))
    return received
