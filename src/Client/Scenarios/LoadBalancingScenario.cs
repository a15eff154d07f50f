using System.Globalization;
using Granary.LoadBalancing;
using Granary.Scheduling;
using Granary.Sdk.Scheduling;

namespace Granary.Client.Scenarios;

/// <summary>
/// Seed questions 16/17 (load-balancing algorithms) used for real: the same task workload
/// dispatched under each balancer to three workers (weights 5, 1, 1; the third one slow), with the
/// per-worker split printed.
/// </summary>
public sealed class LoadBalancingScenario : IScenario
{
    private const int TasksPerStrategy = 42;
    private const int Clients = 6;

    /// <inheritdoc/>
    public string Name => "load-balancing";

    /// <inheritdoc/>
    public string Title => "One workload under every balancer: per-worker split (weights 5/1/1, worker c slow)";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var tasks = new TaskClient(context.Grains);
        var stamp = DateTime.UtcNow.Ticks.ToString("x", CultureInfo.InvariantCulture);
        var ok = true;
        context.Say(string.Create(CultureInfo.InvariantCulture, $"{TasksPerStrategy} sleep(5 ms) tasks per strategy from {Clients} closed-loop clients, keys customer-0..6; workers a (weight 5), b (1), c (1, +40 ms per task), capacity not limiting"));
        context.Say($"{"strategy",-28} {"a",5} {"b",5} {"c",5}");
        foreach (var strategy in LoadBalancerFactory.Names)
        {
            var queue = $"lb-{strategy}-{stamp}";
            await tasks.ConfigureQueueAsync(queue, new QueueSettings(strategy, 1));
            var workers = new[] { ("a", 5, 0), ("b", 1, 0), ("c", 1, 40) };
            foreach (var (name, weight, slowMs) in workers)
            {
                await context.Grains.GetGrain<IWorkerGrain>($"{queue}/{name}").StartAsync(new WorkerSettings(1000, weight) { ExtraLatency = TimeSpan.FromMilliseconds(slowMs) });
            }

            // Six clients in a closed loop (submit, wait for the result, repeat): in-flight counts and
            // latencies differ per worker, which is what the load-aware strategies react to.
            var done = new List<TaskInfo>();
            var next = -1;
            await Task.WhenAll(Enumerable.Range(0, Clients).Select(async _ =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < TasksPerStrategy)
                {
                    var t = await tasks.SubmitAsync(new TaskSubmission("sleep", "[5]") { Queue = queue, Key = "customer-" + (i % 7).ToString(CultureInfo.InvariantCulture) });
                    var d = await tasks.WaitAsync(t.Id, TimeSpan.FromSeconds(20), cancellationToken);
                    lock (done)
                    {
                        done.Add(d);
                    }
                }
            }));
            var split = workers.Select(w => done.Count(d => d.Worker == $"{queue}/{w.Item1}")).ToArray();
            context.Fact(strategy, split, $"{strategy,-28} {split[0],5} {split[1],5} {split[2],5}");
            ok &= done.All(d => d.State == TaskState.Succeeded);
            if (strategy == "smooth-weighted")
            {
                ok &= split[0] >= 3 * split[1] && split[0] >= 3 * split[2];
            }

            foreach (var (name, _, _) in workers)
            {
                await context.Grains.GetGrain<IWorkerGrain>($"{queue}/{name}").StopAsync();
            }
        }

        context.Say("round-robin ignores weight and speed; smooth-weighted follows weights 5:1:1; least-connections and the");
        context.Say("weighted/p2c/ewma variants steer away from the slow worker; source-hash keeps each customer on one worker.");
        return ok;
    }
}
