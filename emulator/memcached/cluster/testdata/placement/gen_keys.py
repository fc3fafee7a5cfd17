#!/usr/bin/env python3
"""Writes keys.txt: the keys the placement tables place.

Most are keys the reference issuer makes,
uploads/UploadFilename-<YYYYmmdd_HHMMSS>-<6 of [A-Za-z0-9]>, from a seeded
generator; then short keys of every length 1..12 (they exercise the hashes'
tails) and one of memcached's longest, 250 bytes.

    python3 gen_keys.py > keys.txt
"""
import random
import string

rng = random.Random(17)
alphabet = string.ascii_letters + string.digits
for i in range(1000):
    stamp = "2021%02d%02d_%02d%02d%02d" % (
        rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))
    print("uploads/UploadFilename-%s-%s" % (stamp, "".join(rng.choice(alphabet) for _ in range(6))))
printable = string.ascii_letters + string.digits + string.punctuation.replace("#", "")  # "#" starts a comment line
for n in range(1, 13):
    for _ in range(4):
        print("".join(rng.choice(printable) for _ in range(n)))
print("k" * 250)
