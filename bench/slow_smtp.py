#!/usr/bin/env python3
"""A minimal SMTP server for benchmarks: accepts every message after a fixed
delay per message, counts them, and prints the count when stopped.

Usage: slow_smtp.py PORT DELAY_MS
"""
import asyncio
import signal
import sys

PORT = int(sys.argv[1])
DELAY = int(sys.argv[2]) / 1000.0
received = 0


async def session(reader, writer):
    try:
        await conversation(reader, writer)
    except (asyncio.CancelledError, ConnectionError):
        pass  # stopped, or the client went away


async def conversation(reader, writer):
    global received
    writer.write(b"220 bench-smtp ESMTP\r\n")
    await writer.drain()
    while True:
        line = await reader.readline()
        if not line:
            break
        command = line.decode("latin-1").strip().upper()
        if command.startswith(("EHLO", "HELO")):
            writer.write(b"250-bench-smtp\r\n250 8BITMIME\r\n")
        elif command == "DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            # The whole body at once, up to the line holding only ".".
            try:
                await reader.readuntil(b"\r\n.\r\n")
            except asyncio.IncompleteReadError:
                break
            await asyncio.sleep(DELAY)
            received += 1
            writer.write(b"250 queued\r\n")
        elif command == "QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        elif command.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
            writer.write(b"250 ok\r\n")
        else:
            writer.write(b"502 no\r\n")
        await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(session, "127.0.0.1", PORT, limit=1 << 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(received, flush=True)


asyncio.run(main())
