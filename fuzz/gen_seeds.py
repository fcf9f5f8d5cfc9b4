#!/usr/bin/env python3
"""gen_seeds.py [CORPUS] -- the text seeds of fuzz_jwt, fuzz_api_body, fuzz_s3_xml and
fuzz_chunk_json, written into CORPUS/<target>/ (default: fuzz/corpus).  Each target's
C file says how it reads its input (an options byte, separators); the seeds follow it.
The pose in the chunk seeds is one BlazePose result (lite model) on media/vtest.avi,
rounded to 3 decimals.
"""
import base64
import hashlib
import hmac
import json
import math
import os
import struct
import sys

SECRET = b"fuzz-secret"  # fuzz_jwt.c

POSE = [[0.356, 0.313, 0.025, 1.0], [0.356, 0.311, 0.019, 1.0], [0.355, 0.31, 0.019, 1.0],
        [0.355, 0.31, 0.019, 1.0], [0.357, 0.311, 0.019, 1.0], [0.357, 0.311, 0.019, 1.0],
        [0.358, 0.311, 0.019, 1.0], [0.354, 0.311, 0.001, 1.0], [0.358, 0.311, 0.002, 1.0],
        [0.356, 0.315, 0.019, 1.0], [0.357, 0.315, 0.02, 1.0], [0.346, 0.327, -0.011, 1.0],
        [0.367, 0.327, -0.007, 1.0], [0.343, 0.35, -0.012, 0.95], [0.373, 0.349, -0.007, 0.88],
        [0.34, 0.365, -0.002, 0.62], [0.37, 0.363, 0.003, 0.56], [0.339, 0.369, -0.004, 0.49],
        [0.371, 0.367, 0.002, 0.46], [0.339, 0.369, -0.004, 0.48], [0.369, 0.365, -0.001, 0.46],
        [0.34, 0.367, -0.001, 0.44], [0.368, 0.364, 0.002, 0.41], [0.352, 0.368, 0.0, 1.0],
        [0.359, 0.368, -0.0, 1.0], [0.354, 0.396, 0.019, 0.96], [0.358, 0.395, 0.018, 0.95],
        [0.356, 0.424, 0.02, 0.97], [0.358, 0.424, 0.026, 0.96], [0.355, 0.43, 0.019, 0.95],
        [0.358, 0.43, 0.027, 0.95], [0.356, 0.428, 0.01, 0.86], [0.358, 0.428, 0.02, 0.82]]
WORLD = [[0.001, -0.645, 0.106], [-0.014, -0.678, 0.074], [-0.014, -0.678, 0.072],
         [-0.014, -0.678, 0.074], [0.011, -0.679, 0.073], [0.014, -0.68, 0.073],
         [0.013, -0.679, 0.077], [-0.051, -0.642, -0.023], [0.074, -0.642, -0.011],
         [-0.015, -0.607, 0.069], [0.02, -0.605, 0.073], [-0.122, -0.454, -0.086],
         [0.155, -0.445, -0.051], [-0.223, -0.198, -0.087], [0.253, -0.192, -0.045],
         [-0.223, -0.022, -0.014], [0.222, -0.023, 0.024], [-0.227, 0.029, -0.012],
         [0.221, 0.022, 0.024], [-0.233, 0.02, -0.02], [0.208, 0.017, 0.008],
         [-0.228, -0.013, -0.013], [0.218, -0.012, 0.021], [-0.05, -0.003, -0.01],
         [0.05, 0.002, 0.011], [-0.037, 0.386, 0.085], [0.018, 0.374, 0.098],
         [0.043, 0.752, 0.075], [-0.006, 0.749, 0.123], [0.053, 0.798, 0.067],
         [-0.008, 0.79, 0.12], [0.042, 0.786, 0.021], [-0.009, 0.792, 0.089]]


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def token(header, payload, secret=SECRET):
    signing = b64(header) + b"." + b64(payload)
    return signing + b"." + b64(hmac.new(secret, signing, hashlib.sha256).digest())


def jwt_seeds():
    h = b'{"alg":"HS256","typ":"JWT"}'
    p = b'{"exp":1800000000,"iat":1700000000,"sub":"coach-42"}'
    return {
        "valid_token": b"0" + token(h, p),
        "expired_token": b"0" + token(h, b'{"exp":1600000000,"sub":"coach-42"}'),
        "alg_none": b"0" + b64(b'{"alg":"none"}') + b"." + b64(p) + b".",
        "other_secret": b"0" + token(h, p, b"another secret"),
        "parts": b"1" + h + b"\0" + p,
        "parts_nbf_float": b"1" + h + b"\0" + b'{"nbf":1699999999.5,"exp":1.8e9,"sub":"c"}',
        "parts_bad_sub": b"1" + h + b"\0" + b'{"sub":17,"exp":"soon"}',
        "parts_dup": b"1" + h + b"\0" + b'{"sub":"a","sub":"b"}',
        "sign": b"2" + struct.pack("<qq", 1700000000, 1800000000) + b"coach-42",
        "sign_no_exp": b"2" + struct.pack("<qq", 1, 0) + "trainer-\u00e9".encode(),
    }


def api_body_seeds():
    return {
        "initiate": b"\x07" + json.dumps({
            "filename": "net-session.mp4", "analysis_mode": "batting", "sample_fps": 10,
            "include_frames": True, "deep_mode": "gpu", "title": "Nets"}).encode(),
        "initiate_session": b"\x40" + json.dumps({
            "session_id": "5d3c0f7e-2b1a-4c59-9a43-1f0e8d7c6b5a", "analysis_mode": None,
            "sample_fps": 31, "deep_mode": "cpu"}).encode(),
        "complete": b"\x01" + b'{"job_id":"0b6f4c1e-9d2a-4e7b-8c3f-5a6d7e8f9a0b"}',
        "complete_bad": b"\x3f" + b'{"job_id":"../../etc/passwd\\u00e9"}',
        "session": b"\x10" + json.dumps({
            "title": "Monday nets", "notes": "front foot", "player_ids": ["p1", "p2"],
            "analysis_context": "batting", "camera_view": "side"}).encode(),
        "session_bad": b"\x02" + b'{"title":null,"player_ids":["p1",2]}',
        "empty": b"\x00",
        "large": b"\x80" + b'{"notes":"' + b"x" * 1100 + b'"}',
    }


S3 = {
    "list": '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
            'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>'
            '<KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>'
            '<Contents><Key>p/a&amp;b &#xfc;&#252;</Key><LastModified>2013-05-24T00:00:00.000Z'
            '</LastModified><ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD'
            '</StorageClass></Contents><Contents><Key>p/c</Key><Size/></Contents>'
            '<NextContinuationToken>tok==</NextContinuationToken></ListBucketResult>',
    "list_last_page": '<ListBucketResult><IsTruncated>false</IsTruncated><Contents>'
                      '<Key>coach_plus/sessions/s/original.mp4</Key><Size>1048576</Size>'
                      '<LastModified>2024-02-29T23:59:59Z</LastModified>'
                      '<ETag>"d41d8cd98f00b204e9800998ecf8427e-3"</ETag></Contents>'
                      '</ListBucketResult>',
    "error": '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.'
             '</Message><Key>a</Key><RequestId>1</RequestId></Error>',
    "initiate": '<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBs'
                'b2Fk</UploadId></InitiateMultipartUploadResult>',
    "complete_error": '<?xml version="1.0"?>\n<Error>\n  <Code>InternalError</Code>\n  '
                      '<Message>We encountered an internal error. Please try again.</Message>'
                      '\n</Error>',
}


def landmarks(frame, world=False):
    out = []
    for i, (x, y, z, *v) in enumerate(WORLD if world else POSE):
        dx = 0.01 * math.sin(frame / 3.0 + i) if not world else 0.0
        pt = {"x": round(x + dx, 4), "y": round(y, 4), "z": z}
        if not world:
            pt["visibility"] = v[0]
        out.append(pt)
    return out


def pose(k, rate, frame_index, detected=True):
    p = {"frame_num": k, "timestamp": k / rate, "t": k / rate, "frame_index": frame_index,
         "detected": detected, "score": 0.99 if detected else 0.1}
    p["landmarks"] = landmarks(k) if detected else []
    p["world_landmarks"] = landmarks(k, True) if detected and k % 2 == 0 else []
    return p


def crease_chunk(index, ks, rate, size=True):
    doc = {"job_id": "fuzz-job", "session_id": "fuzz-session", "chunk_index": index,
           "start_sec": ks[0] / rate, "end_sec": (ks[-1] + 1) / rate, "sample_fps": rate,
           "video_fps": 25.0, "runtime_ms": 12,
           "poses": [pose(k, rate, i, detected=(k % 3 != 2)) for i, k in enumerate(ks)]}
    if size:
        doc["width"], doc["height"] = 640, 480
    return json.dumps(doc, separators=(",", ":")).encode()


def cricksy_chunk(start, end):
    poses = [{"frame_num": i, "timestamp": i * 0.1, "landmarks": landmarks(i)} for i in range(3)]
    poses.append({"frame_num": 3, "landmarks": None})
    doc = {"poses": poses, "metadata": {"start_sec": start, "end_sec": end, "video_fps": 10}}
    return json.dumps(doc, separators=(",", ":")).encode()


def chunk_seeds():
    return {
        "crease_two_chunks": b"\x00" + crease_chunk(0, [0, 1, 2], 10) + b"\0"
                             + crease_chunk(1, [10, 11], 10),
        "crease_no_size_bowling": b"\x01" + crease_chunk(0, [0, 1, 3], 10, size=False),
        "cricksy": b"\x06" + cricksy_chunk(0, 1) + b"\0" + cricksy_chunk(1, 2),
        "mixed_fielding": b"\x0b" + cricksy_chunk(0, 1) + b"\0" + crease_chunk(1, [30, 31], 30),
        "empty_poses": b"\x02" + b'{"chunk_index":0,"poses":[]}',
        # The grid-gap count overflowed int64 (fixed in aggregate.c).
        "regress_frame_num_int64_max": b"\x00" + b'{"chunk_index":0,"poses":[{"frame_num":'
                                       b'9223372036854775807,"t":1,"detected":false}]}',
    }


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
    sets = {"jwt": jwt_seeds(), "api_body": api_body_seeds(),
            "s3_xml": {k: v.encode() for k, v in S3.items()}, "chunk_json": chunk_seeds()}
    for target, seeds in sets.items():
        os.makedirs(os.path.join(root, target), exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(root, target, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
