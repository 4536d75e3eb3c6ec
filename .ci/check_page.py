#!/usr/bin/env python3
"""Checks what headless Chromium made of the HTML report: the DOM it built (--dump-dom) and
a screenshot (PNG). Standard library only.

    check_page.py DOM PNG [--sections a,b,c] [--min-charts N] [--contains TEXT]

Fails (exit 1, one line per problem) when a section or chart is missing, an internal link
points nowhere, the page asks for anything from the network, or the screenshot is blank.
"""
import argparse
import re
import struct
import sys
import zlib


def png_gray(path):
    """Decodes an 8-bit RGB/RGBA/gray PNG (non-interlaced) into rows of gray values."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace != 0 or color not in (0, 2, 6):
                raise ValueError(f"{path}: PNG depth {depth} color {color} not handled")
            channels = {0: 1, 2: 3, 6: 4}[color]
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        f, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        prev = line
        if channels == 1:
            rows.append(list(line))
        else:
            rows.append([sum(line[x * channels : x * channels + 3]) // 3 for x in range(width)])
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dom")
    ap.add_argument("png")
    ap.add_argument("--sections", default="")
    ap.add_argument("--min-charts", type=int, default=0)
    ap.add_argument("--contains", action="append", default=[])
    args = ap.parse_args()
    dom = open(args.dom, encoding="utf-8").read()
    problems = []
    ids = set(re.findall(r'\bid="([^"]+)"', dom))
    for section in filter(None, args.sections.split(",")):
        if section not in ids:
            problems.append(f"section #{section} is missing")
    charts = len(re.findall(r"<svg\b", dom))
    if charts < args.min_charts:
        problems.append(f"{charts} charts, expected at least {args.min_charts}")
    for target in re.findall(r'href="#([^"]*)"', dom):
        if target not in ids:
            problems.append(f"link #{target} points to no element")
    for remote in re.findall(r'(?:src|href)="((?:https?:)?//[^"]+)"', dom):
        problems.append(f"the page loads {remote} from the network")
    for text in args.contains:
        if text not in dom:
            problems.append(f"the page does not say {text!r}")
    rows = png_gray(args.png)
    values = [v for row in rows for v in row]
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    inked = sum(1 for v in values if v < 200) / len(values)
    if var < 100 or inked < 0.01:
        problems.append(f"the screenshot looks blank (variance {var:.0f}, {100 * inked:.2f}% inked)")
    for p in problems:
        print(f"{args.dom}: {p}")
    print(
        f"{args.dom}: {len(ids)} ids, {charts} charts, screenshot variance {var:.0f}, "
        f"{100 * inked:.1f}% inked: {'FAILED' if problems else 'ok'}"
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
