#!/usr/bin/env python3
"""An SMTP listener on the host for the container checks: accepts every message
and writes each to DIR as N.eml. Stops on SIGTERM.

Usage: smtp_sink.py PORT DIR
"""
import asyncio
import pathlib
import signal
import sys

PORT = int(sys.argv[1])
DIR = pathlib.Path(sys.argv[2])
DIR.mkdir(parents=True, exist_ok=True)
count = 0


async def session(reader, writer):
    global count
    writer.write(b"220 sink ESMTP\r\n")
    await writer.drain()
    while True:
        line = await reader.readline()
        if not line:
            break
        command = line.decode("latin-1").strip().upper()
        if command.startswith(("EHLO", "HELO")):
            writer.write(b"250-sink\r\n250 8BITMIME\r\n")
        elif command == "DATA":
            writer.write(b"354 go ahead\r\n")
            await writer.drain()
            lines = []
            while True:
                data = await reader.readline()
                if data in (b".\r\n", b""):
                    break
                lines.append(data[1:] if data.startswith(b"..") else data)
            count += 1
            (DIR / f"{count}.eml").write_bytes(b"".join(lines))
            writer.write(b"250 queued as sink-%d\r\n" % count)
        elif command == "QUIT":
            writer.write(b"221 bye\r\n")
            await writer.drain()
            break
        else:
            writer.write(b"250 ok\r\n")
        await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(session, "127.0.0.1", PORT)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


asyncio.run(main())
