/**
 * Preloaded (`node --import`) into both servers under test, Moat's CLI and the bare Node server, so
 * their CPU time is read the same way: from inside the process (process.cpuUsage: user + system of
 * every thread, GC and libuv included), on request over the IPC channel the benchmark opened. Nothing
 * else runs in the server: between requests this costs nothing.
 */
if (typeof process.send === 'function') {
  process.on('message', (m) => {
    if (m && m.cmd === 'cpu') process.send({ id: m.id, cpu: process.cpuUsage(), rss: process.memoryUsage.rss() });
  });
  // The channel must not keep a server alive that was asked to stop.
  process.channel?.unref();
}
