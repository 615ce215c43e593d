package io.telemetra.delta;

import io.delta.storage.S3SingleDriverLogStore;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.util.Arrays;
import java.util.Iterator;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSDataOutputStreamBuilder;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * Delta's S3 log store, safe for writers in several JVMs (the stream, `maintain`, the quality
 * gate, a backfill).
 *
 * <p>S3 has no atomic rename, and Delta's own S3 log store only locks inside one JVM: two
 * processes committing version N both see "no N.json yet" and both PUT it, and the second PUT
 * silently replaces the first commit. Here a commit file is PUT with {@code If-None-Match: *}
 * (S3's conditional write; Hadoop 3.4's S3A sends it for the builder option below), so of two
 * writers racing for version N exactly one wins. The other gets the
 * {@link FileAlreadyExistsException} Delta expects from a log store, and Delta retries the
 * commit at N + 1 after checking it for logical conflicts.
 *
 * <p>Everything else (reads, listing, overwrites of checkpoints and other non-commit files) is
 * the parent's.
 */
public class S3ConditionalPutLogStore extends S3SingleDriverLogStore {
  /** S3A's builder option for a create that must fail if the object exists (HADOOP-19256). */
  static final String CONDITIONAL_CREATE = "fs.option.create.conditional.overwrite";

  public S3ConditionalPutLogStore(Configuration hadoopConf) {
    super(hadoopConf);
  }

  @Override
  public void write(
      Path path, Iterator<String> actions, Boolean overwrite, Configuration hadoopConf)
      throws IOException {
    if (overwrite) {
      super.write(path, actions, true, hadoopConf);
      return;
    }
    byte[] bytes = commitBytes(actions);
    FileSystem fs = path.getFileSystem(hadoopConf);
    FSDataOutputStreamBuilder<?, ?> create = fs.createFile(path).overwrite(false);
    create.must(CONDITIONAL_CREATE, true);
    try {
      // S3A uploads at close(): that is where a refused PUT (412) surfaces.
      try (FSDataOutputStream out = create.build()) {
        out.write(bytes);
      }
    } catch (IOException e) {
      if (!fs.exists(path)) {
        throw e; // a real failure: nothing was written
      }
      // The object exists: ours if it holds our bytes (S3A retried a PUT whose answer was
      // lost, and the retry met our own first PUT), another writer's otherwise.
      if (!Arrays.equals(bytes, readAll(fs, path))) {
        FileAlreadyExistsException conflict = new FileAlreadyExistsException(path.toString());
        conflict.initCause(e);
        throw conflict;
      }
    }
  }

  /** The commit file's content: one action per line, as the parent writes it. */
  private static byte[] commitBytes(Iterator<String> actions) throws IOException {
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    while (actions.hasNext()) {
      buffer.write((actions.next() + "\n").getBytes(StandardCharsets.UTF_8));
    }
    return buffer.toByteArray();
  }

  private static byte[] readAll(FileSystem fs, Path path) throws IOException {
    try (InputStream in = fs.open(path)) {
      return in.readAllBytes();
    }
  }
}
