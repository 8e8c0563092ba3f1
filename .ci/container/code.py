#!/usr/bin/env python3
"""Prints the code in the newest email for ADDRESS in DIR (the line of digits of
its plain-text part), waiting up to 20 s for one newer than AFTER emails.

Usage: code.py DIR ADDRESS [AFTER]
"""
import email
import email.policy
import pathlib
import sys
import time

directory, address = pathlib.Path(sys.argv[1]), sys.argv[2]
after = int(sys.argv[3]) if len(sys.argv) > 3 else 0
deadline = time.monotonic() + 20
while True:
    messages = []
    for path in sorted(directory.glob("*.eml"), key=lambda p: int(p.stem)):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]):
            messages.append(message)
    if len(messages) > after:
        text = messages[-1].get_body(preferencelist=("plain",)).get_content()
        digits = [line.strip() for line in text.splitlines() if line.strip().isdigit()]
        if digits:
            print(digits[0])
            sys.exit(0)
    if time.monotonic() > deadline:
        sys.exit(f"no email with a code for {address}")
    time.sleep(0.1)
