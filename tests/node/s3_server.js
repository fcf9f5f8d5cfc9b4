#!/usr/bin/env node
// s3_server.js -- the S3 test server: s3rver (npm), with one change to its filesystem
// store so that it keeps S3's read-after-write promise.
//
// s3rver 3.7.1 answers a PUT once the body has been handed to a file stream, not once
// it is written: under load (the suite runs tests in parallel) a GET right after the
// 200 can find no file and answer 404 NoSuchKey, and a PUT whose folder another
// request's DELETE is pruning at that moment can be lost altogether.  Real S3 does
// neither, and crease's tests read what they have just written.  Here an object's PUT
// answers only after its bytes are in the file (the write stream has finished), and a
// PUT whose folder vanishes under it is redone; the rest of s3rver is unchanged.
//
//   node tests/node/s3_server.js -d DIR -a ADDR -p PORT [s3rver's options]
//       runs s3rver's own command line with that store;
//   require('.../tests/node/s3_server.js')
//       gives the S3rver class, with that store (src/api/tests/web_page.js).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Readable, Transform } = require('stream');
const { pipeline } = require('stream/promises');

const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

// Writes the object's content to its file, counting its size and MD5 on the way;
// resolves once the file holds all of it.
async function writeObject(file, content) {
  const md5 = crypto.createHash('md5');
  let size = 0;
  const count = new Transform({
    transform(chunk, encoding, done) {
      md5.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const source = Buffer.isBuffer(content) ? Readable.from([content]) : content;
  await pipeline(source, count, fs.createWriteStream(file));
  return { size, md5: md5.digest('hex') };
}

FilesystemStore.prototype.putObject = async function putObject(object) {
  const file = this.getResourcePath(object.bucket, object.key, 'object');
  // A buffered body can be written again if a concurrent DELETE pruned the folder
  // between its creation and the file's; a streamed one is read once, so it is not.
  const tries = Buffer.isBuffer(object.content) ? 3 : 1;
  for (let attempt = 1; ; attempt++) {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    try {
      const { size, md5 } = await writeObject(file, object.content);
      await this.putMetadata(object.bucket, object.key, object.metadata, md5);
      return { size, md5 };
    } catch (err) {
      if (err.code !== 'ENOENT' || attempt >= tries) throw err;
    }
  }
};

module.exports = S3rver;

if (require.main === module) require('s3rver/bin/s3rver.js');
