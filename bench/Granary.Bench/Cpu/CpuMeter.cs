using System.Diagnostics;
using System.Globalization;

namespace Granary.Bench.Cpu;

/// <summary>A process whose CPU a benchmark reports: alone (the client), or with every process below it (a PostgreSQL postmaster and its backends).</summary>
public sealed record WatchedProcess(string Name, int Pid, bool WithDescendants);

/// <summary>CPU of the watched processes at one instant, in clock ticks (null: the process had gone), and of the whole machine.</summary>
public sealed record CpuSnapshot(long Timestamp, IReadOnlyList<long?> Ticks, MachineCpu? Machine = null);

/// <summary>One process's CPU over a measured window.</summary>
public sealed record ProcessCpu(string Process, int Pid, double CpuSeconds, double MicrosPerOperation);

/// <summary>
/// What else ran on the machine over a measured window, in cores (CPU seconds per second): processes
/// other than the watched ones, interrupt handling (on loopback, partly the benchmark's own packets),
/// and time the hypervisor gave to other machines. High values mark a window that shared the machine.
/// </summary>
public sealed record MachineLoad(double OtherProcessCores, double InterruptCores, double StealCores);

/// <summary>Every watched process's CPU over a measured window, their sum, and what else ran on the machine (when known).</summary>
public sealed record CpuUsage(IReadOnlyList<ProcessCpu> Processes, double TotalMicrosPerOperation, double WindowSeconds, MachineLoad? Machine = null);

/// <summary>
/// CPU time per operation of every process a benchmark involves, from <c>/proc/PID/stat</c>
/// (user + system time) sampled at the start and at the end of the measured window only (not the
/// set-up or warm-up). A process watched with its descendants counts every process below it plus
/// what they reaped when children exited, so a PostgreSQL backend that ends inside the window still
/// counts up to its end (its time moves into the postmaster's reaped-children total).
/// </summary>
public sealed class CpuMeter(ProcFs proc)
{
    private readonly List<WatchedProcess> _watched = [];
    private readonly Lock _gate = new();

    /// <summary>Clock ticks per second of the stat times.</summary>
    public int TicksPerSecond { get; } = proc.ClockTicksPerSecond();

    /// <summary>The watched processes, in the order they were added.</summary>
    public IReadOnlyList<WatchedProcess> Watched
    {
        get
        {
            lock (_gate)
            {
                return [.. _watched];
            }
        }
    }

    /// <summary>Adds a process unless it is already watched (a server shared by Granary and its peer is counted once).</summary>
    public void Watch(string name, int pid, bool withDescendants)
    {
        lock (_gate)
        {
            if (_watched.All(w => w.Pid != pid))
            {
                _watched.Add(new WatchedProcess(name, pid, withDescendants));
            }
        }
    }

    /// <summary>Samples every watched process now.</summary>
    public CpuSnapshot Sample()
    {
        var watched = Watched;
        var stats = watched.Any(w => w.WithDescendants) ? proc.AllStats() : null;
        var ticks = watched.Select(w => stats is null || !w.WithDescendants ? proc.Stat(w.Pid)?.OwnTicks : TreeTicks(stats, w.Pid)).ToList();
        return new CpuSnapshot(Stopwatch.GetTimestamp(), ticks, proc.Machine());
    }

    /// <summary>
    /// The CPU rate, in cores, of the watched processes <paramref name="which"/> selects, over
    /// <paramref name="interval"/> from now.
    /// </summary>
    public async Task<double> CoresAsync(Func<WatchedProcess, bool> which, TimeSpan interval, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(which);
        var watched = Watched;
        var before = Sample();
        await Task.Delay(interval, cancellationToken);
        var usage = Usage(watched, before, Sample(), 1, TicksPerSecond);
        var selected = watched.Where(which).Select(w => w.Pid).ToHashSet();
        return usage.WindowSeconds <= 0 ? 0 : usage.Processes.Where(p => selected.Contains(p.Pid)).Sum(p => p.CpuSeconds) / usage.WindowSeconds;
    }

    /// <summary>
    /// Waits, up to <paramref name="limit"/>, until the selected processes use at most
    /// <paramref name="maxCores"/> over a second; returns their last rate and whether they got there.
    /// </summary>
    public async Task<(double Cores, bool Quiet)> WaitQuietAsync(Func<WatchedProcess, bool> which, double maxCores, TimeSpan limit, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var cores = await CoresAsync(which, TimeSpan.FromSeconds(1), cancellationToken);
            if (cores <= maxCores || deadline.Elapsed >= limit)
            {
                return (cores, cores <= maxCores);
            }
        }
    }

    /// <summary>
    /// The selected processes' idle rate: one-second readings until the last <paramref name="stable"/>
    /// are all within <paramref name="tolerance"/> cores of their lowest (their rate has stopped
    /// falling), or until <paramref name="limit"/>; returns the lowest reading of that stretch (of all
    /// readings when the limit came first), and how long it took.
    /// </summary>
    public async Task<(double Cores, TimeSpan Took)> SettleAsync(Func<WatchedProcess, bool> which, double tolerance, int stable, TimeSpan limit, CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var readings = new List<double>();
        while (true)
        {
            readings.Add(await CoresAsync(which, TimeSpan.FromSeconds(1), cancellationToken));
            if (Settled(readings, tolerance, stable) is { } idle)
            {
                return (idle, started.Elapsed);
            }

            if (started.Elapsed >= limit)
            {
                return (readings.Min(), started.Elapsed);
            }
        }
    }

    /// <summary>
    /// The lowest of the last <paramref name="stable"/> readings when each of them is within
    /// <paramref name="tolerance"/> of it, else null (fewer readings, or still falling or jumping).
    /// </summary>
    public static double? Settled(IReadOnlyList<double> readings, double tolerance, int stable)
    {
        ArgumentNullException.ThrowIfNull(readings);
        ArgumentOutOfRangeException.ThrowIfLessThan(stable, 1);
        if (readings.Count < stable)
        {
            return null;
        }

        var last = readings.Skip(readings.Count - stable).ToList();
        var lowest = last.Min();
        return last.All(r => r <= lowest + tolerance) ? lowest : null;
    }

    /// <summary>
    /// Own plus reaped-children time of <paramref name="root"/> and every live process below it, or
    /// null when the root is not among <paramref name="stats"/>.
    /// </summary>
    public static long? TreeTicks(IReadOnlyList<ProcStat> stats, int root)
    {
        ArgumentNullException.ThrowIfNull(stats);
        var children = stats.ToLookup(s => s.ParentPid);
        var byPid = stats.ToDictionary(s => s.Pid);
        if (!byPid.TryGetValue(root, out var top))
        {
            return null;
        }

        long total = 0;
        var pending = new Stack<ProcStat>([top]);
        var seen = new HashSet<int>();
        while (pending.TryPop(out var next))
        {
            if (!seen.Add(next.Pid))
            {
                continue;
            }

            total += next.OwnAndReapedTicks;
            foreach (var child in children[next.Pid])
            {
                pending.Push(child);
            }
        }

        return total;
    }

    /// <summary>
    /// CPU per operation between two samples of this meter: each process's seconds of CPU and
    /// microseconds per operation, and the total. A process added after <paramref name="before"/>, or
    /// gone by <paramref name="after"/>, is left out (its window would not be the measured one).
    /// </summary>
    public CpuUsage Usage(CpuSnapshot before, CpuSnapshot after, long operations)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        return Usage(Watched, before, after, operations, TicksPerSecond);
    }

    /// <summary>The arithmetic of <see cref="Usage(CpuSnapshot, CpuSnapshot, long)"/>, for any watched list and tick rate.</summary>
    public static CpuUsage Usage(IReadOnlyList<WatchedProcess> watched, CpuSnapshot before, CpuSnapshot after, long operations, int ticksPerSecond)
    {
        ArgumentNullException.ThrowIfNull(watched);
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ticksPerSecond);
        var processes = new List<ProcessCpu>();
        for (var i = 0; i < watched.Count && i < before.Ticks.Count && i < after.Ticks.Count; i++)
        {
            if (before.Ticks[i] is { } start && after.Ticks[i] is { } end && end >= start)
            {
                var seconds = (double)(end - start) / ticksPerSecond;
                processes.Add(new ProcessCpu(watched[i].Name, watched[i].Pid, seconds, operations <= 0 ? 0 : seconds * 1e6 / operations));
            }
        }

        var window = Stopwatch.GetElapsedTime(before.Timestamp, after.Timestamp).TotalSeconds;
        MachineLoad? machine = null;
        if (before.Machine is { } first && after.Machine is { } last && window > 0)
        {
            double Cores(long ticks) => (double)ticks / ticksPerSecond / window;

            // The watched processes' seconds include children they reaped inside the window, which the
            // machine counted too; a small negative difference is sampling, not load.
            var others = Cores(last.ProcessTicks - first.ProcessTicks) - (processes.Sum(p => p.CpuSeconds) / window);
            machine = new MachineLoad(Math.Max(0, others), Cores(last.InterruptTicks - first.InterruptTicks), Cores(last.StealTicks - first.StealTicks));
        }

        return new CpuUsage(processes, processes.Sum(p => p.MicrosPerOperation), window, machine);
    }
}

/// <summary>How CPU per operation is printed.</summary>
public static class CpuText
{
    /// <summary>"client 35.1, silo:30001 80.2, postgres:5432 40.0 = 155.7 CPU us/op; beside them 0.02 cores in other processes, 0.10 in interrupts, 0.00 stolen".</summary>
    public static string Breakdown(CpuUsage usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        return string.Join(", ", usage.Processes.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Process} {p.MicrosPerOperation:F1}")))
            + string.Create(CultureInfo.InvariantCulture, $" = {usage.TotalMicrosPerOperation:F1} CPU us/op")
            + (usage.Machine is { } m
                ? string.Create(CultureInfo.InvariantCulture, $"; beside them {m.OtherProcessCores:F2} cores in other processes, {m.InterruptCores:F2} in interrupts, {m.StealCores:F2} stolen")
                : string.Empty);
    }
}
