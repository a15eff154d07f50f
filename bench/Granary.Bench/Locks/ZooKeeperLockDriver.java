// The ZooKeeper lock peer's client: ZooKeeper's own Java client running the lock recipe from
// ZooKeeper's documentation ("Recipes and Solutions", Locks, without herd effect), driven by
// granary-bench over standard input and output. Started by granary-bench as
//
//   java -cp /usr/share/java/zookeeper.jar ZooKeeperLockDriver.java HOST:PORT
//
// (Java runs a single source file directly). One ZooKeeper session is shared by every caller, as
// one client process would share it; each request runs on a thread of its own because the recipe
// blocks while it waits for its predecessor's node to go.
//
// Requests, one per line:   A <id> <lock name>   acquire; answer "<id> OK <node path>" once held
//                           R <id> <node path>   release; answer "<id> OK"
// Failures answer "<id> ERR <message>". "READY" is written once the session is connected.
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public final class ZooKeeperLockDriver {
    private static final String ROOT = "/granary-bench-locks";
    private static final LinkedBlockingQueue<String> replies = new LinkedBlockingQueue<>();
    private static final ConcurrentHashMap<String, Boolean> parents = new ConcurrentHashMap<>();

    public static void main(String[] args) throws Exception {
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 30_000, event -> {
            if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        });
        if (!connected.await(30, TimeUnit.SECONDS)) {
            System.err.println("ZooKeeperLockDriver: no session with " + args[0] + " within 30 s");
            System.exit(2);
        }
        ensure(zk, ROOT);

        Thread writer = new Thread(ZooKeeperLockDriver::writeReplies, "replies");
        writer.setDaemon(true);
        writer.start();
        replies.put("READY");

        ExecutorService callers = Executors.newCachedThreadPool();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split(" ", 3);
            if (parts.length != 3) {
                continue;
            }
            String id = parts[1];
            String argument = parts[2];
            if (parts[0].equals("A")) {
                callers.execute(() -> reply(id, () -> "OK " + acquire(zk, argument)));
            } else if (parts[0].equals("R")) {
                callers.execute(() -> reply(id, () -> {
                    zk.delete(argument, -1);
                    return "OK";
                }));
            }
        }
        callers.shutdownNow();
        zk.close();
    }

    private interface Step {
        String run() throws Exception;
    }

    private static void reply(String id, Step step) {
        String answer;
        try {
            answer = step.run();
        } catch (Exception e) {
            answer = "ERR " + e.toString().replace('\n', ' ');
        }
        replies.add(id + " " + answer);
    }

    // Creates an ephemeral sequential node under the lock's node and waits until it is the lowest:
    // each waiter watches only the node just before its own, so a release wakes one waiter.
    private static String acquire(ZooKeeper zk, String name) throws Exception {
        String parent = ROOT + "/" + name;
        if (parents.putIfAbsent(parent, Boolean.TRUE) == null) {
            ensure(zk, parent);
        }
        String mine = zk.create(parent + "/n-", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL);
        String myName = mine.substring(parent.length() + 1);
        while (true) {
            List<String> children = zk.getChildren(parent, false);
            Collections.sort(children);
            int index = children.indexOf(myName);
            if (index < 0) {
                throw new IllegalStateException("own node " + mine + " is gone (session expired?)");
            }
            if (index == 0) {
                return mine;
            }
            CountDownLatch gone = new CountDownLatch(1);
            Stat predecessor = zk.exists(parent + "/" + children.get(index - 1), event -> gone.countDown());
            if (predecessor != null) {
                gone.await();
            }
        }
    }

    private static void ensure(ZooKeeper zk, String path) throws Exception {
        try {
            zk.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException e) {
            // Made by an earlier run or another caller.
        }
    }

    // One writer: replies queued while it writes go out with the next flush.
    private static void writeReplies() {
        try (BufferedWriter out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8))) {
            while (true) {
                String reply = replies.take();
                out.write(reply);
                out.newLine();
                while ((reply = replies.poll()) != null) {
                    out.write(reply);
                    out.newLine();
                }
                out.flush();
            }
        } catch (Exception e) {
            System.exit(3);
        }
    }
}
