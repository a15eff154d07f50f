using System.Globalization;

namespace Granary.Bench.Cpu;

/// <summary>
/// Reads the parts of a proc file system the CPU meter needs: process stat lines, listening TCP
/// sockets and which process holds them, and the clock tick rate. The root is <c>/proc</c>; tests
/// point it at a directory laid out the same way.
/// </summary>
public sealed class ProcFs(string root = "/proc")
{
    private const string Listen = "0A";
    private const ulong ClockTicksKey = 17; // AT_CLKTCK in the auxiliary vector
    private const int DefaultClockTicks = 100;

    /// <summary>The root directory.</summary>
    public string Root => root;

    /// <summary>Whether this machine has a proc file system to read (Linux).</summary>
    public bool Available => Directory.Exists(root) && Pids().Any();

    /// <summary>The stat of one process, or null when it has gone or cannot be read.</summary>
    public ProcStat? Stat(int pid)
    {
        try
        {
            return ProcStat.Parse(File.ReadAllText(Path.Combine(root, pid.ToString(CultureInfo.InvariantCulture), "stat")));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The whole machine's CPU so far, or null when <c>stat</c> cannot be read.</summary>
    public MachineCpu? Machine()
    {
        try
        {
            using var reader = new StreamReader(Path.Combine(root, "stat"));
            return reader.ReadLine() is { } first ? MachineCpu.Parse(first) : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Every process's stat (processes that end while being read are left out).</summary>
    public List<ProcStat> AllStats()
    {
        var stats = new List<ProcStat>();
        foreach (var pid in Pids())
        {
            if (Stat(pid) is { } stat)
            {
                stats.Add(stat);
            }
        }

        return stats;
    }

    /// <summary>
    /// The processes that hold a socket listening on TCP <paramref name="port"/> (IPv4 or IPv6), reduced
    /// to the top of each tree: a forked server's children inherit its socket, the parent is the server.
    /// </summary>
    public List<int> ListeningProcesses(int port)
    {
        var inodes = ListeningInodes(port);
        if (inodes.Count == 0)
        {
            return [];
        }

        var holders = new List<int>();
        foreach (var pid in Pids())
        {
            if (SocketInodes(pid).Any(inodes.Contains))
            {
                holders.Add(pid);
            }
        }

        var set = holders.ToHashSet();
        return holders.Where(pid => Stat(pid) is not { } stat || !set.Contains(stat.ParentPid)).Order().ToList();
    }

    /// <summary>The inodes of the sockets listening on TCP <paramref name="port"/>, from <c>net/tcp</c> and <c>net/tcp6</c>.</summary>
    public HashSet<string> ListeningInodes(int port)
    {
        var inodes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var table in new[] { "tcp", "tcp6" })
        {
            var path = Path.Combine(root, "net", table);
            if (!File.Exists(path))
            {
                continue;
            }

            // "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ..."
            foreach (var line in File.ReadLines(path).Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length < 10 || fields[3] != Listen)
                {
                    continue;
                }

                var colon = fields[1].LastIndexOf(':');
                if (colon > 0 && int.TryParse(fields[1].AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var local) && local == port)
                {
                    inodes.Add(fields[9]);
                }
            }
        }

        return inodes;
    }

    /// <summary>
    /// Clock ticks per second, the unit of the stat times: AT_CLKTCK from this process's auxiliary
    /// vector (what <c>getconf CLK_TCK</c> prints), 100 when it cannot be read.
    /// </summary>
    public int ClockTicksPerSecond()
    {
        try
        {
            var auxv = File.ReadAllBytes(Path.Combine(root, "self", "auxv"));
            for (var i = 0; i + 16 <= auxv.Length; i += 16)
            {
                var key = BitConverter.ToUInt64(auxv, i);
                if (key == 0)
                {
                    break;
                }

                if (key == ClockTicksKey)
                {
                    var value = BitConverter.ToUInt64(auxv, i + 8);
                    return value is > 0 and <= 1_000_000 ? (int)value : DefaultClockTicks;
                }
            }
        }
        catch (IOException)
        {
            // No auxiliary vector to read: the usual rate.
        }
        catch (UnauthorizedAccessException)
        {
            // Same.
        }

        return DefaultClockTicks;
    }

    private IEnumerable<int> Pids()
    {
        foreach (var directory in Directory.EnumerateDirectories(root))
        {
            if (int.TryParse(Path.GetFileName(directory), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                yield return pid;
            }
        }
    }

    private IEnumerable<string> SocketInodes(int pid)
    {
        string[] links;
        try
        {
            links = Directory.GetFiles(Path.Combine(root, pid.ToString(CultureInfo.InvariantCulture), "fd"));
        }
        catch (IOException)
        {
            yield break;
        }
        catch (UnauthorizedAccessException)
        {
            yield break; // another user's process: not ours to measure
        }

        foreach (var link in links)
        {
            string? target;
            try
            {
                target = new FileInfo(link).LinkTarget;
            }
            catch (IOException)
            {
                continue;
            }
            catch (UnauthorizedAccessException)
            {
                continue;
            }

            // "socket:[12345]"
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal) && target.EndsWith(']'))
            {
                yield return target[8..^1];
            }
        }
    }
}
