"""Pipelined SFTP reads: up to 64 requests in flight as OpenSSH's ``sftp`` keeps, sent and
answered on the calling thread (paramiko's ``prefetch`` thread dies with a traceback when the
connection drops; here the drop is an exception for the caller). Data is written in file order;
a short answer is followed by a request for the rest; an EOF before ``size`` ends the read early
(the caller's size check reports it).
"""

from __future__ import annotations

import errno
import struct
from collections import deque
from collections.abc import Callable

import paramiko
from paramiko.sftp import (
    CMD_DATA,
    CMD_READ,
    CMD_STATUS,
    SFTP_EOF,
    SFTP_NO_SUCH_FILE,
    SFTP_PERMISSION_DENIED,
    SFTPError,
)

#: Bytes asked for in one read request. OpenSSH's sftp-server answers up to 255 KiB per read
#: (its ``limits@openssh.com``); larger requests mean fewer Python-level packets per megabyte.
REQUEST_BYTES = 1 << 17
#: Requests kept in flight (OpenSSH's ``sftp -R`` default is 64 of 32 KiB).
WINDOW = 64
#: The SSH channel window the SFTP session opens with: room for every request in flight, else
#: the server stalls on window adjustments over a long link (paramiko's default is 2 MiB).
CHANNEL_WINDOW_BYTES = REQUEST_BYTES * WINDOW
#: The largest SSH packet we accept (paramiko's default is 32 KiB): a 256 KiB packet carries a
#: whole answer, which doubles the throughput on a fast link (bench/results.md).
CHANNEL_MAX_PACKET_BYTES = 1 << 18


_HEAD = struct.Struct(">IBI")  # packet length, type, request id
_U32 = struct.Struct(">I")
_OFFSET_LENGTH = struct.Struct(">QI")
#: How much is taken from the channel's buffer at once.
RECV_BYTES = 1 << 20


_STATUS_ERRNOS = {SFTP_NO_SUCH_FILE: errno.ENOENT, SFTP_PERMISSION_DENIED: errno.EACCES}


def _status_error(code: int, text: str) -> BaseException:
    """The exception paramiko raises for an SFTP status (EOFError at the end of the file)."""
    if code == SFTP_EOF:
        return EOFError(text)
    if code in _STATUS_ERRNOS:
        return OSError(_STATUS_ERRNOS[code], text)
    return OSError(text or f"SFTP status {code}")


def read_pipelined(
    sftp: paramiko.SFTPClient,
    handle: bytes,
    size: int,
    write: Callable[[bytes], object],
    *,
    request_bytes: int = REQUEST_BYTES,
    window: int = WINDOW,
) -> int:
    """Read the first ``size`` bytes of the open file ``handle`` into ``write``, in order; return
    how many were written. Raises what the channel raises when the connection fails, or the
    server's error for a read. Requests and answers are written and parsed here on the channel,
    a megabyte of buffer at a time (half the CPU of paramiko's ``Message`` objects); request ids
    come from paramiko's own counter, and every answer is read whole before this returns.
    """
    reads = _Reads(sftp, handle)
    pending: deque[tuple[int, int, int]] = deque()  # (request id, offset, length)
    next_offset = 0
    received = 0
    failure: BaseException | None = None
    while received < size:
        batch: list[tuple[int, int]] = []
        while len(pending) + len(batch) < window and next_offset < size:
            length = min(request_bytes, size - next_offset)
            batch.append((next_offset, length))
            next_offset += length
        if batch:
            pending.extend(reads.ask(batch))
        num, offset, length = pending.popleft()
        data = reads.take(num)
        if isinstance(data, EOFError) or not data:
            break  # the file is shorter than listed: the caller's size check says so
        if isinstance(data, BaseException):
            failure = data
            break
        write(data)
        received += len(data)
        if len(data) < length:  # a short answer: ask for the rest before anything else
            rest = offset + len(data)
            pending.extendleft(reads.ask([(rest, length - len(data))]))
    # Answers still in flight are read whole and dropped, so that the channel is left at a
    # packet boundary for paramiko's next request (a connection failure above skips this).
    for num, _, _ in pending:
        reads.take(num)
    if reads.buffer:
        raise SFTPError("the SFTP stream holds a partial answer after the download")
    if failure is not None:
        raise failure
    return received


class _Reads:
    """Read requests for one open handle, written and answered on the SFTP channel itself."""

    def __init__(self, sftp: paramiko.SFTPClient, handle: bytes) -> None:
        self.sftp = sftp
        self.channel = sftp.sock
        self.handle_part = _U32.pack(len(handle)) + handle
        self.body_length = 1 + 4 + len(self.handle_part) + _OFFSET_LENGTH.size
        #: answers read before they were asked for, by request id
        self.early: dict[int, bytes | BaseException] = {}
        #: bytes taken from the channel that do not yet make a whole answer
        self.buffer = bytearray()

    def ask(self, batch: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
        """Send one read request per (offset, length); return (request id, offset, length)."""
        sftp = self.sftp
        with sftp._lock:
            first = sftp.request_number
            sftp.request_number += len(batch)
        asked = [(first + n, offset, length) for n, (offset, length) in enumerate(batch)]
        self.channel.sendall(
            b"".join(
                _HEAD.pack(self.body_length, CMD_READ, num)
                + self.handle_part
                + _OFFSET_LENGTH.pack(offset, length)
                for num, offset, length in asked
            )
        )
        return asked

    def take(self, num: int) -> bytes | BaseException:
        """The answer to request ``num``; answers to others that come first are kept."""
        while num not in self.early:
            got = self.channel.recv(RECV_BYTES)
            if not got:
                raise EOFError("the SFTP channel was closed during the download")
            self.buffer.extend(got)
            self._parse_answers()
        return self.early.pop(num)

    def _parse_answers(self) -> None:
        """Move every whole answer in the buffer to :attr:`early`."""
        buffer = self.buffer
        pos = 0
        end = len(buffer)
        while end - pos >= 9:
            (length,) = _U32.unpack_from(buffer, pos)
            if end - pos - 4 < length:
                break
            kind = buffer[pos + 4]
            (rid,) = _U32.unpack_from(buffer, pos + 5)
            if kind == CMD_DATA:
                (count,) = _U32.unpack_from(buffer, pos + 9)
                self.early[rid] = bytes(buffer[pos + 13 : pos + 13 + count])
            elif kind == CMD_STATUS:
                (code,) = _U32.unpack_from(buffer, pos + 9)
                (text_length,) = _U32.unpack_from(buffer, pos + 13)
                text = bytes(buffer[pos + 17 : pos + 17 + text_length])
                self.early[rid] = _status_error(code, text.decode("utf-8", "replace"))
            else:
                self.early[rid] = SFTPError(f"unexpected answer type {kind} to a read")
            pos += 4 + length
        del buffer[:pos]
