// Child of `bench commands`: opens N long-polls (raw HTTP/1.1 over Bun.connect, one socket each, as N
// agents would) to 127.0.0.1:PORT for agents 1..N, re-polls each one as soon as it is answered, and
// prints one JSON line per event to stdout: {"open":n} once all requests are sent, {"answered":id,"at":ms}
// when a poll got commands. Exits after HOLD seconds (bounded), closing every socket.
import type { Socket } from "bun";

const [portText, countText, holdText, waitText] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const holdMs = Number(holdText) * 1000;
const wait = Number(waitText ?? 55);
const sockets: Socket<{ id: number; buffer: string }>[] = [];

const request = (id: number) =>
  `GET /api/agents/${id}/commands?wait=${wait} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Agent-ID: ${id}\r\nX-Agent-Version: 1.0.0\r\n\r\n`;

let opened = 0;
for (let id = 1; id <= count; id++) {
  const socket = await Bun.connect<{ id: number; buffer: string }>({
    hostname: "127.0.0.1",
    port,
    data: { id, buffer: "" },
    socket: {
      data(s, chunk) {
        s.data.buffer += chunk.toString();
        const end = s.data.buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(s.data.buffer.slice(0, end))?.[1] ?? 0);
        if (s.data.buffer.length < end + 4 + length) return;
        const body = s.data.buffer.slice(end + 4, end + 4 + length);
        s.data.buffer = s.data.buffer.slice(end + 4 + length);
        if (body.includes('"kind"')) console.log(JSON.stringify({ answered: s.data.id, at: Date.now() }));
        else if (!body.startsWith('{"commands":')) {
          // A refusal would turn the re-poll into a busy loop: stop and say why.
          console.error(`poll of agent ${s.data.id} refused: ${body.slice(0, 200)}`);
          process.exit(1);
        }
        s.write(request(s.data.id));
      },
      error() {},
    },
  });
  socket.write(request(id));
  sockets.push(socket);
  opened++;
}
console.log(JSON.stringify({ open: opened }));
await Bun.sleep(holdMs);
for (const socket of sockets) socket.end();
process.exit(0);
