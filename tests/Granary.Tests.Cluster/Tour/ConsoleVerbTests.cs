using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Granary.Tests.Cluster.Infrastructure;
using Xunit.Abstractions;

namespace Granary.Tests.Cluster.Tour;

/// <summary>
/// Every console verb the README lists, run with the syntax its page documents, through the built
/// console as a user runs it: one <c>granary --embedded script</c> process (one in-process silo),
/// driven line by line through its standard input, so that a later command can use what an earlier
/// one printed (a receipt, a task id). Each documented command must exit as documented (0, or the
/// 1 the page shows), and every verb that takes a name must answer an empty and an over-long name
/// with exit code 2 (a bad command line) and one line on stderr.
/// </summary>
/// <remarks>
/// Not run here: <c>demo</c> and <c>scenario</c> (<see cref="DemoTourTests"/> runs them all),
/// <c>bench</c> (minutes each, beside peer servers) and <c>shards</c> (they read the PostgreSQL shard
/// databases directly, which an embedded silo does not have).
/// </remarks>
public sealed partial class ConsoleVerbTests(ITestOutputHelper output)
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The documented commands, in an order where each finds what it needs, with the documented exit code.</summary>
    private static readonly (string Line, int Exit)[] Documented =
    [
        ("cluster status", 0),
        ("cluster status --all", 0),
        ("ring analyze --nodes 8 --vnodes 100 --keys 10000", 0),

        ("lock acquire orders/42 --owner alice --ttl 60", 0),
        ("lock acquire orders/42 --owner bob --ttl 60 --wait 1", 1),
        ("lock status orders/42", 0),
        ("lock renew orders/42 --owner alice --token 1 --ttl 60", 0),
        ("lock release orders/42 --owner bob --token 1", 1),
        ("lock release orders/42 --owner alice --token 1", 0),
        ("lock acquire orders/42 --owner bob --ttl 0", 2),
        ("lock acquire sem --type semaphore --permits 3 --owner alice --ttl 30", 0),
        ("lock acquire doc --type rw --read --owner alice --ttl 30", 0),
        ("lock acquire doc2 --type rw --read --permits 3 --owner alice --ttl 30", 2),

        ("cache exec SET k v EX 10", 0),
        ("cache exec LRANGE l 0 -1", 0),
        ("cache get k", 0),
        ("cache set k2 v --ex 10 --nx", 0),
        ("cache del k k2", 0),
        ("cache incr n", 0),
        ("cache incr n 5", 0),
        ("cache expire n 60", 0),
        ("cache ttl n", 0),
        ("cache hset h f v", 0),
        ("cache hgetall h", 0),
        ("cache lpush l a b", 0),
        ("cache lrange l 0 -1", 0),
        ("cache sadd s a b", 0),
        ("cache zadd z 1 a 2 b", 0),
        ("cache zrange z 0 -1", 0),
        ("cache scan 0", 0),
        ("cache stats", 0),
        ("cache reshard 12", 0),
        ("cache create orders --shards 4 --persistence write-through --eviction lfu", 0),
        ("cache create sessions --shards 8 --persistence snapshot --snapshot-interval-ms 500", 0),

        ("queue create orders --partitions 8 --max-deliveries 5 --dedup-window 300", 0),
        ("queue enqueue orders \"resize 42\" --id job-42 --key customer-7 --delay 10", 0),
        ("queue enqueue orders \"bulk\" --id batch --count 100", 0),
        ("queue dequeue orders --consumer w1 --max 10 --visibility 30 --wait 5", 0),
        ("queue ack orders {receipt0}", 0),
        ("queue nack orders {receipt1} --delay 5", 0),
        ("queue nack orders {receipt2} --dead-letter", 0),
        ("queue extend orders {receipt3} --visibility 60", 0),
        ("queue stats orders", 0),
        ("queue dlq list orders", 0),
        ("queue dlq redrive orders --max 100", 0),
        ("queue dlq purge orders", 0),
        ("exchange declare events --type topic", 0),
        ("exchange bind events orders --key 'order.*.eu'", 0),
        ("exchange publish events order.created.eu \"{...}\" --id evt-1", 0),

        ("tx open alice --balance 10000", 0),
        ("tx open bob", 0),
        ("tx transfer --from alice --to bob --amount 2500 --id order-17", 0),
        ("tx transfer --from alice --to bob --amount 100 --protocol 3pc", 0),
        ("tx balance alice", 0),
        ("tx status order-17", 0),
        ("tx list-stuck", 0),
        ("tx saga status nosuch", 1),

        ("task submit add '[2, 3]' --wait", 0),
        ("task submit pick-order '[\"o-17\", 4]' --max-retries 5 --idempotency-key o-17", 0),
        ("task submit add '[1, 1]' --delay 30s", 0),
        ("task status {task}", 0),
        ("task cancel {task}", 0),
        ("task submit add '[1, 1]'", 0),
        ("task result {task} --wait 10", 0),
        ("task list --queue default", 0),
        ("task chain 'add[2,2]' 'multiply[8]' --wait", 0),
        ("task group 'add[1,1]' 'multiply[2,3]' --id wf-1 --wait", 0),
        ("task chord 'add[1,1]' 'add[2,2]' 'add[3,3]' --callback xsum --wait", 0),
        ("task workflow wf-1", 0),
        ("task periodic add nightly '0 3 * * *' 'pick-order[\"o-1\", 2]'", 0),
        ("task periodic list", 0),
        ("task periodic remove nightly", 0),
        ("task dlq list --limit 50", 0),
        ("task dlq retry nosuch", 1),
        ("worker list", 0),

        // Last: silos report metrics every 2 s (Granary:Telemetry:StatsInterval), and until the first
        // report `stats` says so and exits 1; the commands above take far longer than that.
        ("stats", 0),
        ("stats --by-method --family locks", 0),
    ];

    /// <summary>Every verb that takes a name, with <c>{n}</c> where the name goes.</summary>
    private static readonly string[] Named =
    [
        "lock acquire {n} --owner a --ttl 10",
        "lock acquire x --owner {n} --ttl 10",
        "lock renew {n} --owner a --token 1 --ttl 10",
        "lock release {n} --owner a --token 1",
        "lock status {n}",
        "cache create {n} --shards 2 --persistence volatile",
        "cache exec GET k --cache {n}",
        "cache get k --cache {n}",
        "cache set k v --cache {n}",
        "cache stats --cache {n}",
        "cache reshard 4 --cache {n}",
        "queue create {n}",
        "queue enqueue {n} body",
        "queue dequeue {n} --consumer c",
        "queue dequeue orders --consumer {n}",
        "queue ack {n} 0.1.1",
        "queue nack {n} 0.1.1",
        "queue extend {n} 0.1.1 --visibility 5",
        "queue stats {n}",
        "queue dlq list {n}",
        "queue dlq purge {n}",
        "queue dlq redrive {n}",
        "exchange declare {n} --type topic",
        "exchange bind {n} orders --key k",
        "exchange bind events {n} --key k",
        "exchange publish {n} rk body",
        "tx open {n}",
        "tx balance {n}",
        "tx transfer --from {n} --to bob --amount 1",
        "tx transfer --from alice --to {n} --amount 1",
        "tx checkout --wallet {n} --shop s1 --item milk=1 --total 1",
        "tx checkout --wallet alice --shop {n} --item milk=1 --total 1",
        "tx status {n}",
        "tx saga status {n}",
        "tx saga retry {n}",
        "task submit add '[1, 1]' --idempotency-key {n}",
        "task --queue {n} submit add '[1, 1]'",
        "task status {n}",
        "task result {n}",
        "task cancel {n}",
        "task list --queue {n}",
        "task workflow {n}",
        "task group 'add[1,1]' --id {n}",
        "task periodic add {n} '0 3 * * *' 'add[1, 1]'",
        "task periodic remove {n}",
        "task dlq retry {n}",
        "worker list --queue {n}",
    ];

    [Fact]
    public async Task Every_documented_verb_runs_and_every_named_verb_refuses_a_bad_name_with_exit_2()
    {
        var directory = Directory.CreateTempSubdirectory("granary-verbs-");
        try
        {
            await using var console = await ScriptedConsole.StartAsync(directory.FullName);
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            var failures = new List<string>();
            foreach (var (template, expected) in Documented)
            {
                var line = Regex.Replace(template, "{([a-z0-9]+)}", m => values.GetValueOrDefault(m.Groups[1].Value, m.Value));
                var (exit, stdout, stderr) = await console.RunAsync(line);
                output.WriteLine($"granary {line}: exit {exit}");
                if (exit != expected)
                {
                    failures.Add($"granary {line}: exit {exit}, documented {expected}{Environment.NewLine}{stdout}{stderr}");
                }

                foreach (var (match, i) in Receipts().Matches(stdout).Select((m, i) => (m, i)))
                {
                    values[string.Create(CultureInfo.InvariantCulture, $"receipt{i}")] = match.Value;
                }

                if (TaskId().Match(stdout) is { Success: true } task)
                {
                    values["task"] = task.Groups["id"].Value;
                }
            }

            var refused = 0;
            foreach (var template in Named)
            {
                foreach (var (label, name) in new[] { ("empty", "\"\""), ("over-long", new string('n', Limits.MaxKeyLength + 1)) })
                {
                    var line = template.Replace("{n}", name, StringComparison.Ordinal);
                    var (exit, stdout, stderr) = await console.RunAsync(line);
                    var errorLines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                    if (exit != 2 || errorLines.Length != 1 || !NamesItsFamily(template, stderr))
                    {
                        failures.Add($"granary {template} with an {label} name: exit {exit} (expected 2, one line on stderr naming the {template.Split(' ')[0]}) with {errorLines.Length} line(s) on stderr{Environment.NewLine}{stdout}{stderr}");
                    }
                    else
                    {
                        refused++;
                    }
                }
            }

            output.WriteLine($"{Documented.Length} documented commands, {refused} of {2 * Named.Length} bad names refused with exit 2");
            Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>An exchange's error speaks of the exchange (it used to say "queue").</summary>
    private static bool NamesItsFamily(string template, string stderr) =>
        !template.StartsWith("exchange declare", StringComparison.Ordinal)
        || (stderr.Contains("exchange", StringComparison.Ordinal) && !stderr.Contains("queue", StringComparison.Ordinal));

    [GeneratedRegex(@"^\d+\.\d+\.\d+(?=\s)", RegexOptions.Multiline)]
    private static partial Regex Receipts();

    [GeneratedRegex(@"^(?:task|submitted) (?<id>t-[0-9a-f]+)", RegexOptions.Multiline)]
    private static partial Regex TaskId();

    /// <summary><c>granary --embedded script</c> as a child process, one command at a time.</summary>
    private sealed class ScriptedConsole : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Channel<string> _stderr = Channel.CreateUnbounded<string>();

        private ScriptedConsole(Process process) => _process = process;

        public static Task<ScriptedConsole> StartAsync(string workingDirectory)
        {
            var startInfo = new ProcessStartInfo("dotnet")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = workingDirectory,
                StandardInputEncoding = new UTF8Encoding(false),
            };
            foreach (var argument in new[] { RepositoryPaths.ConsoleAssembly, "--embedded", "script" })
            {
                startInfo.ArgumentList.Add(argument);
            }

            var process = Process.Start(startInfo) ?? throw new InvalidOperationException("dotnet did not start");
            var console = new ScriptedConsole(process);
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { } line)
                {
                    console._stderr.Writer.TryWrite(line);
                }
            };
            process.BeginErrorReadLine();
            return Task.FromResult(console);
        }

        /// <summary>Sends one line and reads its output up to the exit marker; fails after <see cref="CommandTimeout"/>.</summary>
        public async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string line)
        {
            await _process.StandardInput.WriteLineAsync(line);
            await _process.StandardInput.FlushAsync();
            using var timeout = new CancellationTokenSource(CommandTimeout);
            var stdout = new StringBuilder();
            while (true)
            {
                string? read;
                try
                {
                    read = await _process.StandardOutput.ReadLineAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"granary {line}: no exit marker within {CommandTimeout}; output so far:{Environment.NewLine}{stdout}{Drain()}");
                }

                if (read is null)
                {
                    throw new InvalidOperationException($"granary script ended during '{line}':{Environment.NewLine}{stdout}{Drain()}");
                }

                if (ExitMarker().Match(read) is { Success: true } marker)
                {
                    // The same marker follows the command's stderr lines: wait for it so they belong to this command.
                    var errors = await ErrorsUntilMarkerAsync(read, timeout.Token);
                    return (int.Parse(marker.Groups[1].Value, CultureInfo.InvariantCulture), stdout.ToString(), errors);
                }

                stdout.AppendLine(read);
            }
        }

        public async ValueTask DisposeAsync()
        {
            _process.StandardInput.Close();
            using var exit = new CancellationTokenSource(CommandTimeout);
            try
            {
                await _process.WaitForExitAsync(exit.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
        }

        private async Task<string> ErrorsUntilMarkerAsync(string marker, CancellationToken ct)
        {
            var errors = new StringBuilder();
            while (await _stderr.Reader.ReadAsync(ct) is var line && line != marker)
            {
                errors.AppendLine(line);
            }

            return errors.ToString();
        }

        private string Drain()
        {
            var lines = new List<string>();
            while (_stderr.Reader.TryRead(out var line))
            {
                lines.Add(line);
            }

            return string.Join(Environment.NewLine, lines);
        }
    }

    [GeneratedRegex(@"^granary: exit (\d+)$")]
    private static partial Regex ExitMarker();
}
