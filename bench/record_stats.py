#!/usr/bin/env python3
"""Prints what one harness run record (harness-run/v1 JSON) measured, in µs.

    bench/record_stats.py RECORD.json

One line of `key=value` pairs for the load and one per step:
    load achieved=… target=… dropped=… sent=… completed=… duration_s=…
    step NAME ok=… errors=… p50_us=… p90_us=… p99_us=… p999_us=… max_us=…

The latency histograms are HdrHistogram V2 + DEFLATE in base64; this decodes them with
the standard library only, and takes quantiles the way the hdrhistogram crate does (the
highest value equivalent to the bucket where the cumulative count reaches q × total).
"""

import base64
import json
import math
import struct
import sys
import zlib

V2_COOKIE_BASE = 0x1C849303
V2_DEFLATE_COOKIE_BASE = 0x1C849304


def decode(text):
    raw = base64.b64decode(text)
    cookie, length = struct.unpack(">II", raw[:8])
    if cookie & ~0xF0 == V2_DEFLATE_COOKIE_BASE & ~0xF0:
        raw = zlib.decompress(raw[8 : 8 + length])
    (cookie, payload_len, offset, sigfig, lowest, highest, _ratio) = struct.unpack(
        ">IIiIqqd", raw[:40]
    )
    if cookie & ~0xF0 != V2_COOKIE_BASE & ~0xF0:
        raise ValueError("not an HdrHistogram V2 encoding")
    payload = raw[40 : 40 + payload_len]
    counts = []
    i = 0
    while i < len(payload):
        shift = 0
        value = 0
        while True:
            byte = payload[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte & 0x80 == 0 or shift >= 63:
                if shift >= 63 and byte & 0x80:
                    value |= payload[i] << 56
                    i += 1
                break
        value = (value >> 1) ^ -(value & 1)  # ZigZag
        if value < 0:
            counts.extend([0] * (-value))
        else:
            counts.append(value)
    return Hist(counts, sigfig, max(lowest, 1))


class Hist:
    def __init__(self, counts, sigfig, lowest):
        self.counts = counts
        single = 2 * 10**sigfig
        sub_mag = int(math.ceil(math.log2(single)))
        self.half_mag = max(sub_mag - 1, 0)
        self.sub_count = 1 << sub_mag
        self.half_count = self.sub_count // 2
        self.unit_mag = int(math.floor(math.log2(lowest)))
        self.total = sum(counts)

    def _value(self, index):
        bucket = (index >> self.half_mag) - 1
        sub = (index & (self.half_count - 1)) + self.half_count
        if bucket < 0:
            sub -= self.half_count
            bucket = 0
        return sub << (bucket + self.unit_mag), bucket

    def _highest_equivalent(self, index):
        value, bucket = self._value(index)
        return value + (1 << (bucket + self.unit_mag)) - 1

    def quantile(self, q):
        if self.total == 0:
            return 0
        want = max(1, math.ceil(q * self.total))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if n and seen >= want:
                return self._highest_equivalent(index)
        return 0

    def max(self):
        for index in range(len(self.counts) - 1, -1, -1):
            if self.counts[index]:
                return self._highest_equivalent(index)
        return 0


def main():
    record = json.load(open(sys.argv[1]))
    load = record["load"]
    print(
        "load achieved={:.1f} target={} dropped={} sent={} completed={} duration_s={}".format(
            load["achieved_rate"],
            "{:.1f}".format(load["target_rate"]) if load.get("target_rate") else "-",
            load["dropped"],
            load.get("sent", "-"),
            load.get("completed", "-"),
            load["duration_s"],
        )
    )
    for step in record["steps"]:
        hist = decode(step["ok"])
        classes = step.get("classes", {})
        errors = sum(n for c, n in classes.items() if c != "ok")
        print(
            "step {} ok={} errors={} p50_us={} p90_us={} p99_us={} p999_us={} max_us={}".format(
                step["step"],
                hist.total,
                errors,
                hist.quantile(0.50),
                hist.quantile(0.90),
                hist.quantile(0.99),
                hist.quantile(0.999),
                hist.max(),
            )
        )


if __name__ == "__main__":
    main()
