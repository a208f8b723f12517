// s3rver under Node, as it is made to run: started by the archive tests as a child process on 127.0.0.1.
// argv: directory, buckets (comma-separated). Prints "port N" once listening; exits on stdin close.
import S3rver from "s3rver";

const [directory, buckets = ""] = process.argv.slice(2);
// A client that goes away mid-request (a killed test tool) must not take the server down for the next tests.
process.on("uncaughtException", (error) => console.error(`s3rver: ${error.message}`));
const server = new S3rver({
  port: 0,
  address: "127.0.0.1",
  silent: true,
  directory,
  configureBuckets: buckets
    .split(",")
    .filter(Boolean)
    .map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`port ${port}\n`);
process.stdin.resume();
process.stdin.on("end", async () => {
  await server.close();
  process.exit(0);
});
