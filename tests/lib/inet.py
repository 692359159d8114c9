# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""What the tests' packet tools share: the Internet checksum (RFC 1071) over bytes.

wiretool.py and diff/difftest.py import it from here; lib.sh copies it into $ST_TMP beside
sttool.py, where sttool.py and lib-usecase.sh's uctool.py import it."""
import struct


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
