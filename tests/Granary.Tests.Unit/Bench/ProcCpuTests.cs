using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Granary.Bench.Cpu;
using Granary.Cli.Cli;

namespace Granary.Tests.Unit.Bench;

/// <summary>The bench's CPU meter: /proc stat parsing, process-tree sums, the per-operation arithmetic and finding servers by their listening port.</summary>
public sealed class ProcCpuTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("granary-proc-");

    public void Dispose() => _root.Delete(recursive: true);

    [Fact]
    public void A_stat_line_is_read_past_a_command_with_spaces_and_parentheses()
    {
        // Fields 14-17 are utime, stime, cutime, cstime; field 4 the parent.
        var stat = ProcStat.Parse("4242 (postgres: (x) idle) S 4000 4242 4242 0 -1 4194560 500 0 0 0 1234 567 89 10 20 0 1 0 100 0 0");

        Assert.NotNull(stat);
        Assert.Equal(4242, stat.Value.Pid);
        Assert.Equal("postgres: (x) idle", stat.Value.Command);
        Assert.Equal(4000, stat.Value.ParentPid);
        Assert.Equal(1234 + 567, stat.Value.OwnTicks);
        Assert.Equal(1234 + 567 + 89 + 10, stat.Value.OwnAndReapedTicks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a stat line")]
    [InlineData("12 (short) S 1 2 3")]
    [InlineData("x (bad pid) S 1 1 1 0 -1 0 0 0 0 0 1 1 1 1 20 0 1 0 100 0 0")]
    public void Anything_else_is_not_a_stat(string line) => Assert.Null(ProcStat.Parse(line));

    [Fact]
    public void A_tree_counts_every_live_descendant_and_what_they_reaped_but_nothing_outside_it()
    {
        ProcStat[] stats =
        [
            Stat(100, parent: 1, user: 10, system: 5, reapedUser: 300, reapedSystem: 20), // postmaster: exited backends' time in its reaped totals
            Stat(101, parent: 100, user: 40, system: 2),
            Stat(102, parent: 100, user: 7, system: 1),
            Stat(103, parent: 102, user: 3, system: 0), // grandchild
            Stat(200, parent: 1, user: 1000, system: 1000), // another server
        ];

        Assert.Equal(15 + 320 + 42 + 8 + 3, CpuMeter.TreeTicks(stats, 100));
        Assert.Equal(8 + 3, CpuMeter.TreeTicks(stats, 102));
        Assert.Null(CpuMeter.TreeTicks(stats, 999));
    }

    [Fact]
    public void Cpu_per_operation_is_the_tick_difference_over_the_operations_and_the_total_is_their_sum()
    {
        WatchedProcess[] watched = [new("client", 1, false), new("silo", 2, false), new("postgres", 3, true), new("gone", 4, false)];
        var before = new CpuSnapshot(Stopwatch.GetTimestamp(), [100, 2_000, 500, 7]);
        var after = new CpuSnapshot(Stopwatch.GetTimestamp(), [150, 2_300, 600, null, 42]); // the fifth was added inside the window

        var usage = CpuMeter.Usage(watched, before, after, operations: 10_000, ticksPerSecond: 100);

        Assert.Equal(["client", "silo", "postgres"], usage.Processes.Select(p => p.Process));
        Assert.Equal([0.5, 3.0, 1.0], usage.Processes.Select(p => p.CpuSeconds));
        Assert.Equal([50.0, 300.0, 100.0], usage.Processes.Select(p => p.MicrosPerOperation));
        Assert.Equal(450.0, usage.TotalMicrosPerOperation, 9);
    }

    [Fact]
    public void The_machine_line_splits_process_interrupt_and_stolen_time()
    {
        // user nice system idle iowait irq softirq steal guest guest_nice
        var machine = MachineCpu.Parse("cpu  1000 20 300 9000 40 5 60 70 0 0");

        Assert.Equal(new MachineCpu(1320, 65, 70), machine);
        Assert.Null(MachineCpu.Parse("cpu0 1 2 3 4 5 6 7 8 9 10")); // one core's line, not the machine's
        Assert.Null(MachineCpu.Parse("cpu 1 2 3"));
        Assert.Null(MachineCpu.Parse("cpu 1 2 3 4 5 6 x 8"));
    }

    [Fact]
    public void What_else_ran_in_a_window_is_the_machine_s_process_time_less_the_watched_processes()
    {
        WatchedProcess[] watched = [new("client", 1, false), new("silo", 2, false)];
        var start = Stopwatch.GetTimestamp();
        var before = new CpuSnapshot(start, [100, 2_000], new MachineCpu(10_000, 500, 50));
        var end = start + (2 * Stopwatch.Frequency); // a 2 s window
        var after = new CpuSnapshot(end, [150, 2_250], new MachineCpu(10_000 + 300 + 100, 500 + 40, 50 + 10)); // 300 ticks watched, 100 others

        var usage = CpuMeter.Usage(watched, before, after, operations: 1_000, ticksPerSecond: 100);

        Assert.NotNull(usage.Machine);
        Assert.Equal(0.5, usage.Machine.OtherProcessCores, 9); // 100 ticks = 1 s over 2 s
        Assert.Equal(0.2, usage.Machine.InterruptCores, 9);
        Assert.Equal(0.05, usage.Machine.StealCores, 9);
        Assert.EndsWith("beside them 0.50 cores in other processes, 0.20 in interrupts, 0.05 stolen", CpuText.Breakdown(usage), StringComparison.Ordinal);

        // Less machine time than the watched processes' (their reaped children, sampling): none, not negative.
        var quiet = CpuMeter.Usage(watched, before, after with { Machine = new MachineCpu(10_000 + 290, 500, 50) }, 1_000, 100);
        Assert.Equal(0, quiet.Machine!.OtherProcessCores);

        // Without the machine's line, nothing is claimed about it.
        Assert.Null(CpuMeter.Usage(watched, before with { Machine = null }, after, 1_000, 100).Machine);
    }

    [Fact]
    public void A_server_is_found_by_its_listening_port_and_its_forked_children_are_not_counted_twice()
    {
        // net/tcp: port 0x1F90 = 8080 listening (st 0A, inode 777); a connection on the same port (st 01) and another listener (inode 888, port 9090).
        Write("net/tcp",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0",
            "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 555 1 0 20 4 30 10 -1",
            "   2: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 888 1 0 100 0 0 10 0");
        Write("net/tcp6",
            "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 778 1 0 100 0 0 10 0");
        Process(300, parent: 1, sockets: ["777", "778"]); // the server
        Process(301, parent: 300, sockets: ["777"]); // a child that inherited the socket
        Process(400, parent: 1, sockets: ["555"]); // a client of it
        Process(500, parent: 1, sockets: ["888"]);
        var proc = new ProcFs(_root.FullName);

        Assert.Equal(["777", "778"], proc.ListeningInodes(8080).Order());
        Assert.Equal([300], proc.ListeningProcesses(8080));
        Assert.Equal([500], proc.ListeningProcesses(9090));
        Assert.Empty(proc.ListeningProcesses(1234));
    }

    [Fact]
    public void Watching_by_port_or_pid_adds_each_process_once()
    {
        Write("net/tcp",
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0 100 0 0 10 0");
        Process(300, parent: 1, sockets: ["777"]);
        var proc = new ProcFs(_root.FullName);
        var meter = new CpuMeter(proc);

        CpuDiscovery.WatchSpec(meter, proc, "server=:8080");
        CpuDiscovery.WatchSpec(meter, proc, "again=300");

        Assert.Equal([new WatchedProcess("server", 300, true)], meter.Watched);
        Assert.Throws<UsageException>(() => CpuDiscovery.WatchSpec(meter, proc, "nothing=12345"));
        Assert.Throws<UsageException>(() => CpuDiscovery.WatchSpec(meter, proc, "no-equals"));
    }

    [Fact]
    public void On_this_machine_a_listening_socket_leads_to_this_process_and_its_cpu_grows_while_it_works()
    {
        var proc = new ProcFs();
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        Assert.Equal([Environment.ProcessId], proc.ListeningProcesses(port));
        Assert.InRange(proc.ClockTicksPerSecond(), 1, 1_000_000);

        var meter = new CpuMeter(proc);
        meter.Watch("self", Environment.ProcessId, withDescendants: false);
        var before = meter.Sample();
        var deadline = Stopwatch.StartNew();
        double spent = 0;
        while (spent == 0 && deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            var x = 0.0;
            for (var i = 0; i < 1_000_000; i++)
            {
                x += Math.Sqrt(i);
            }

            GC.KeepAlive(x);
            spent = meter.Usage(before, meter.Sample(), operations: 1).Processes.Single().CpuSeconds;
        }

        Assert.True(spent > 0, "no CPU time recorded for this process after 30 s of work");
        Assert.NotNull(before.Machine); // and the machine's own line is read
    }

    private static ProcStat Stat(int pid, int parent, long user, long system, long reapedUser = 0, long reapedSystem = 0) =>
        new(pid, "p", parent, user, system, reapedUser, reapedSystem);

    private void Write(string relative, params string[] lines)
    {
        var path = Path.Combine(_root.FullName, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllLines(path, lines);
    }

    private void Process(int pid, int parent, string[] sockets)
    {
        Write($"{pid}/stat", $"{pid} (server) S {parent} {pid} {pid} 0 -1 4194560 500 0 0 0 10 5 0 0 20 0 1 0 100 0 0");
        var fd = Directory.CreateDirectory(Path.Combine(_root.FullName, pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "fd"));
        for (var i = 0; i < sockets.Length; i++)
        {
            File.CreateSymbolicLink(Path.Combine(fd.FullName, (i + 3).ToString(System.Globalization.CultureInfo.InvariantCulture)), $"socket:[{sockets[i]}]");
        }
    }
}
