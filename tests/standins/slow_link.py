"""SlowLink: a TCP proxy in front of a real MySQL server that behaves like a slow network to it.

STAND-IN for the network between the API and a distant database (a retransmitting link, a proxy, a
managed MySQL). The server behind it is real; only the timing of the bytes changes:
- `greeting_delay`: each new connection's first bytes from the server (the MySQL greeting) are held
  this long, as a server slow to accept would hold them (longer than every timeout: a hung server);
- `drip_after`: of each answer (what the server sends after the client's last request bytes), the first
  `drip_after` bytes pass at once, the rest one byte every `drip_interval` seconds.
It counts the server connections open at once (`most_open`), and notes which connections the client
closed.
"""

import asyncio
import threading
from dataclasses import dataclass

CHUNK_BYTES = 65536


@dataclass
class Link:
    """One client connection and its server connection."""

    answer_bytes: int = 0  # bytes of the current answer passed so far
    dripped: bool = False  # some bytes of an answer were dripped
    closed_by_client: bool = False  # the API hung up its end


class SlowLink:
    def __init__(
        self,
        server_port: int,
        greeting_delay: float = 0,
        drip_after: int | None = None,
        drip_interval: float = 0.02,
    ) -> None:
        self.server_port = server_port
        self.greeting_delay = greeting_delay
        self.drip_after = drip_after
        self.drip_interval = drip_interval
        self.links: list[Link] = []
        self.open_now = 0
        self.most_open = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-link", daemon=True)
        self.port = 0

    def __enter__(self) -> "SlowLink":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the slow link did not start listening")
        return self

    def __exit__(self, *exc_info) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def dripping(self) -> bool:
        return any(link.dripped for link in self.links)

    def dripping_links_closed_by_client(self) -> int:
        return sum(1 for link in self.links if link.dripped and link.closed_by_client)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        # Every relay still running ends with its connections.
        relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        link = Link()
        self.links.append(link)
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.server_port)
        except OSError:
            client_writer.close()
            return
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        upstream = asyncio.create_task(self._requests(client_reader, server_writer, link))
        downstream = asyncio.create_task(self._answers(server_reader, client_writer, link))
        try:
            await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            upstream.cancel()
            downstream.cancel()
            for writer in (server_writer, client_writer):
                writer.close()
            self.open_now -= 1

    async def _requests(self, client: asyncio.StreamReader, server: asyncio.StreamWriter, link: Link) -> None:
        while chunk := await client.read(CHUNK_BYTES):
            link.answer_bytes = 0  # a new request: what the server sends next is a new answer
            server.write(chunk)
            await server.drain()
        link.closed_by_client = True

    async def _answers(self, server: asyncio.StreamReader, client: asyncio.StreamWriter, link: Link) -> None:
        try:
            await self._pass_answers(server, client, link)
        except ConnectionError:  # writing to the client, who hung up while an answer dripped
            link.closed_by_client = True

    async def _pass_answers(
        self, server: asyncio.StreamReader, client: asyncio.StreamWriter, link: Link
    ) -> None:
        greeting = await server.read(CHUNK_BYTES)
        await asyncio.sleep(self.greeting_delay)  # the stand-in's whole purpose: a slow server greeting
        client.write(greeting)
        while chunk := await server.read(CHUNK_BYTES):
            at_once = len(chunk) if self.drip_after is None else max(0, self.drip_after - link.answer_bytes)
            link.answer_bytes += len(chunk)
            client.write(chunk[:at_once])
            await client.drain()
            for byte in range(at_once, len(chunk)):
                link.dripped = True
                await asyncio.sleep(self.drip_interval)  # the pace of the drip, not a synchronisation
                client.write(chunk[byte : byte + 1])
                await client.drain()
