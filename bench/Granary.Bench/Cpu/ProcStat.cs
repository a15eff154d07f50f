using System.Globalization;

namespace Granary.Bench.Cpu;

/// <summary>
/// The CPU accounting fields of one <c>/proc/PID/stat</c> line, in clock ticks: the process's own
/// user and system time (every thread) and the time of its children that have exited and been reaped.
/// </summary>
public readonly record struct ProcStat(int Pid, string Command, int ParentPid, long UserTicks, long SystemTicks, long ReapedChildUserTicks, long ReapedChildSystemTicks)
{
    /// <summary>User plus system time of the process itself.</summary>
    public long OwnTicks => UserTicks + SystemTicks;

    /// <summary>Own time plus that of exited children it has reaped (a PostgreSQL backend that ended, a Redis save child).</summary>
    public long OwnAndReapedTicks => OwnTicks + ReapedChildUserTicks + ReapedChildSystemTicks;

    /// <summary>
    /// Parses a stat line (<c>pid (comm) state ppid ... utime stime cutime cstime ...</c>), or null when
    /// it is not one. The command may hold spaces and parentheses, so the fields after it are counted
    /// from the last <c>)</c>.
    /// </summary>
    public static ProcStat? Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var open = line.IndexOf('(', StringComparison.Ordinal);
        var close = line.LastIndexOf(')');
        if (open <= 0 || close < open || close + 2 > line.Length
            || !int.TryParse(line.AsSpan(0, open).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return null;
        }

        // After the command: field 3 (state) is rest[0], so field N is rest[N - 3].
        var rest = line[(close + 2)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length < 15
            || !int.TryParse(rest[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var parent)
            || !long.TryParse(rest[11], NumberStyles.Integer, CultureInfo.InvariantCulture, out var user)
            || !long.TryParse(rest[12], NumberStyles.Integer, CultureInfo.InvariantCulture, out var system)
            || !long.TryParse(rest[13], NumberStyles.Integer, CultureInfo.InvariantCulture, out var childUser)
            || !long.TryParse(rest[14], NumberStyles.Integer, CultureInfo.InvariantCulture, out var childSystem))
        {
            return null;
        }

        return new ProcStat(pid, line[(open + 1)..close], parent, user, system, childUser, childSystem);
    }
}

/// <summary>
/// The whole machine's CPU from the first line of <c>/proc/stat</c> (every core together, in clock
/// ticks): time in processes (user, nice, system), in interrupts (irq, softirq), and time the
/// hypervisor gave to other machines (steal).
/// </summary>
public readonly record struct MachineCpu(long ProcessTicks, long InterruptTicks, long StealTicks)
{
    /// <summary>
    /// Parses <c>cpu user nice system idle iowait irq softirq steal ...</c>, or null when the line is not
    /// that (a kernel without the steal field counts none).
    /// </summary>
    public static MachineCpu? Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 8 || fields[0] != "cpu")
        {
            return null;
        }

        var ticks = new long[8];
        for (var i = 1; i < fields.Length && i <= 8; i++)
        {
            if (!long.TryParse(fields[i], NumberStyles.None, CultureInfo.InvariantCulture, out ticks[i - 1]))
            {
                return null;
            }
        }

        return new MachineCpu(ticks[0] + ticks[1] + ticks[2], ticks[5] + ticks[6], ticks[7]);
    }
}
