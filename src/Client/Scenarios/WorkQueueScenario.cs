using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Granary.Cli.Commands;
using Granary.Client.Queues;
using Granary.Queues;

namespace Granary.Cli.Scenarios;

/// <summary>
/// Seed questions 22 and 26 (distributed queue, message queue): workers share a partitioned queue;
/// one worker "crashes" holding leased messages, which come back after the visibility timeout and
/// are done by the others; a poison message fails every time and ends in the dead-letter list.
/// </summary>
public sealed class WorkQueueScenario : IScenario
{
    private const int Jobs = 30;
    private const int MaxDeliveries = 3;
    private static readonly TimeSpan Visibility = TimeSpan.FromSeconds(2);

    /// <inheritdoc/>
    public string Name => "work-queue";

    /// <inheritdoc/>
    public string Title => "Workers, a crash while holding messages (redelivery after the visibility timeout), a poison message (dead letters)";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var client = new QueueClient(context.Grains);
        var queue = "work-" + DateTime.UtcNow.Ticks.ToString(CultureInfo.InvariantCulture);
        var info = await client.CreateAsync(queue, new QueueDefinition(Partitions: 3, MaxDeliveries: MaxDeliveries));
        context.Say(string.Create(CultureInfo.InvariantCulture, $"queue '{queue}': {info.Partitions} partitions, max deliveries {info.MaxDeliveries}, visibility timeout {Visibility.TotalSeconds:F0} s"));

        var jobs = Enumerable.Range(1, Jobs).Select(i => new QueueMessageInput(Encoding.UTF8.GetBytes("resize image " + i.ToString(CultureInfo.InvariantCulture)), "job-" + i.ToString(CultureInfo.InvariantCulture))).ToList();
        jobs.Add(new QueueMessageInput(Encoding.UTF8.GetBytes("corrupt payload"), "poison"));
        await client.EnqueueBatchAsync(queue, jobs);
        var again = await client.EnqueueAsync(queue, jobs[0]);
        context.Check("enqueued", jobs.Count, again.Duplicate, $"enqueued {Jobs} jobs + 1 poison message; re-sending job-1 is answered as a duplicate: {again.Duplicate}");

        var crashed = await client.DequeueAsync(queue, "worker-crashing", 5, Visibility, TimeSpan.FromSeconds(1));
        ScenarioContext.Require(crashed.Count > 0, "worker-crashing leased no message: there is nothing for a crash to strand");
        context.Fact("heldByCrashedWorker", crashed.Count, $"worker-crashing leased {crashed.Count} messages ({string.Join(", ", crashed.Select(c => c.Id))}) and dies without acking");

        var done = new ConcurrentDictionary<string, string>();
        var poisonAttempts = 0;
        var watch = Stopwatch.StartNew();
        async Task WorkAsync(string worker)
        {
            while (watch.Elapsed < TimeSpan.FromSeconds(8) && (done.Count < Jobs || Volatile.Read(ref poisonAttempts) < MaxDeliveries - (crashed.Any(c => c.Id == "poison") ? 1 : 0)))
            {
                var batch = await client.DequeueAsync(queue, worker, 4, Visibility, TimeSpan.FromMilliseconds(500));
                foreach (var m in batch)
                {
                    if (m.Id == "poison")
                    {
                        Interlocked.Increment(ref poisonAttempts);
                        await client.NackAsync(queue, m.Receipt, TimeSpan.Zero);
                        continue;
                    }

                    await client.AckAsync(queue, m.Receipt);
                    done[m.Id] = worker + (m.Deliveries > 1 ? string.Create(CultureInfo.InvariantCulture, $" (delivery {m.Deliveries})") : "");
                }
            }
        }

        await Task.WhenAll(WorkAsync("worker-a"), WorkAsync("worker-b"));
        var redelivered = crashed.Where(c => c.Id != "poison").Select(c => done.GetValueOrDefault(c.Id, "NOT DONE")).ToList();
        context.Check("jobsDone", done.Count, done.Count == Jobs, string.Create(CultureInfo.InvariantCulture, $"workers a and b finished {done.Count}/{Jobs} jobs in {watch.Elapsed.TotalSeconds:F1} s"));
        context.Check(redelivered.All(r => r.Contains("(delivery 2)", StringComparison.Ordinal)),
            "the crashed worker's messages came back after the visibility timeout and were done on their second delivery: "
            + string.Join("; ", crashed.Where(c => c.Id != "poison").Select(c => c.Id + " -> " + done.GetValueOrDefault(c.Id, "NOT DONE"))));

        var dead = await client.Queue(queue).GetDeadLettersAsync(10);
        var poison = dead.FirstOrDefault(d => d.Id == "poison");
        context.Check("deadLetters", dead.Count, poison is { Deliveries: MaxDeliveries },
            poison is null ? "poison message NOT in the dead-letter list" : $"dead-letter list: {poison.Id} after {poison.Deliveries} deliveries, the most allowed ({poison.Reason})");

        string staleAck;
        try
        {
            await client.AckAsync(queue, crashed[0].Receipt);
            staleAck = "accepted";
        }
        catch (ReceiptInvalidException ex)
        {
            staleAck = "refused: " + ex.Message;
        }

        context.Check(staleAck.StartsWith("refused", StringComparison.Ordinal), "the crashed worker's stale receipt is " + staleAck);
        var stats = await client.StatsAsync(queue);
        QueueCommands.PrintStats(context.Output, stats);
        context.Check(stats.Depth == 0, string.Create(CultureInfo.InvariantCulture, $"nothing left waiting: depth {stats.Depth}"));
        var purged = await client.Queue(queue).PurgeDeadLettersAsync();
        context.Say(string.Create(CultureInfo.InvariantCulture, $"dlq purge removed {purged}"));
        return context.AllHeld;
    }
}
