using System.Globalization;
using Granary.Client.Scheduling;
using Granary.LoadBalancing;
using Granary.Scheduling;

namespace Granary.Cli.Scenarios;

/// <summary>
/// Seed questions 16/17 (load-balancing algorithms) used for real: the same task workload
/// dispatched under each balancer to three workers (weights 5, 1, 1; the third one slow), with the
/// per-worker split printed and what each strategy is meant to do checked.
/// </summary>
/// <remarks>
/// Queues and workers have fixed names (<c>lb-STRATEGY/a</c>), so the strategies that depend only
/// on names and order (round-robin, smooth-weighted, source-hash) split the work the same way on
/// every run; the load-aware ones react to timing, so their exact split varies, and what is checked
/// is the direction: fewer tasks on the slow worker. Its extra 250 ms per task is what makes the
/// direction clear on a real cluster too, where each task costs tens of milliseconds of storage
/// writes (with +40 ms, p2c split 13/16/13 there).
/// </remarks>
public sealed class LoadBalancingScenario : IScenario
{
    private const int TasksPerStrategy = 42;
    private const int Clients = 6;
    private const int Customers = 7;
    private const int SlowMilliseconds = 250;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <inheritdoc/>
    public string Name => "load-balancing";

    /// <inheritdoc/>
    public string Title => "One workload under every balancer: per-worker split (weights 5/1/1, worker c slow)";

    /// <inheritdoc/>
    public async Task<bool> RunAsync(ScenarioContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var tasks = new TaskClient(context.Grains);
        var workers = new[] { (Name: "a", Weight: 5, SlowMs: 0), (Name: "b", Weight: 1, SlowMs: 0), (Name: "c", Weight: 1, SlowMs: SlowMilliseconds) };
        context.Say(string.Create(CultureInfo.InvariantCulture, $"{TasksPerStrategy} sleep(5 ms) tasks per strategy from {Clients} closed-loop clients, keys customer-0..{Customers - 1}; workers a (weight 5), b (1), c (1, +{SlowMilliseconds} ms per task), 1000 slots each"));
        context.Say($"{"strategy",-28} {"a",5} {"b",5} {"c",5}  checked");
        foreach (var strategy in LoadBalancerFactory.Names)
        {
            var queue = "lb-" + strategy;
            await tasks.ConfigureQueueAsync(queue, new QueueSettings(strategy, 1));
            var ids = workers.Select(w => $"{queue}/{w.Name}").ToArray();
            try
            {
                foreach (var (name, weight, slowMs) in workers)
                {
                    await context.Grains.GetGrain<IWorkerGrain>($"{queue}/{name}").StartAsync(new WorkerSettings(1000, weight) { ExtraLatency = TimeSpan.FromMilliseconds(slowMs) });
                }

                // The scheduler must know all three before the first task, or the first ones all go to whoever registered first:
                // the queue lists them (a partition woken by a task takes that list), and a partition still awake from an earlier run sees them.
                await ScenarioContext.WaitUntilAsync($"the '{queue}' queue and its awake schedulers seeing workers a, b and c", Wait, async () =>
                {
                    var view = await tasks.GetQueueAsync(queue);
                    var awake = (await tasks.QueueAsync(queue)).Where((_, partition) => view.ActivePartitions.Contains(partition));
                    return ids.All(view.Workers.Select(w => w.Id).Contains) && awake.All(p => ids.All(p.DispatchedPerWorker.ContainsKey));
                }, cancellationToken);
                var done = await RunWorkloadAsync(tasks, queue, cancellationToken);
                var split = ids.Select(id => done.Count(d => d.Task.Worker == id)).ToArray();
                var failed = done.Count(d => d.Task.State != TaskState.Succeeded);
                var (holds, claim) = Expectation(strategy, split, done);
                context.Check(strategy, split, holds && failed == 0,
                    $"{strategy,-28} {split[0],5} {split[1],5} {split[2],5}  {claim}{(failed == 0 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $"; {failed} tasks did not succeed"))}");
            }
            finally
            {
                foreach (var id in ids)
                {
                    await context.Grains.GetGrain<IWorkerGrain>(id).StopAsync();
                }
            }
        }

        return context.AllHeld;
    }

    /// <summary>What the strategy is meant to do with this workload, as a check and the words printed for it.</summary>
    private static (bool Holds, string Claim) Expectation(string strategy, int[] split, IReadOnlyList<(string Customer, TaskInfo Task)> done)
    {
        var (a, b, c) = (split[0], split[1], split[2]);
        const int Equal = TasksPerStrategy / 3;
        return strategy switch
        {
            RoundRobinBalancer.StrategyName => (a == Equal && b == Equal && c == Equal, "equal shares: ignores weight and speed"),
            SmoothWeightedRoundRobinBalancer.StrategyName => (a == 5 * b && b == c && a + b + c == TasksPerStrategy, "shares 5:1:1, the weights"),
            WeightedLeastConnectionsBalancer.StrategyName => (a > b && a > c && c < Equal, "most to a (weight 5), under an equal share to slow c"),
            SourceHashBalancer.StrategyName => (OneWorkerPerCustomer(done), "each customer's tasks on one worker"),
            _ => (c < a && c < b, "fewest to slow c"),
        };
    }

    private static bool OneWorkerPerCustomer(IReadOnlyList<(string Customer, TaskInfo Task)> done) =>
        done.GroupBy(d => d.Customer, StringComparer.Ordinal).All(g => g.Select(d => d.Task.Worker).Distinct(StringComparer.Ordinal).Count() == 1);

    /// <summary>Six clients in a closed loop (submit, wait for the result, repeat): in-flight counts and latencies differ per worker, which is what the load-aware strategies react to.</summary>
    private static async Task<List<(string Customer, TaskInfo Task)>> RunWorkloadAsync(TaskClient tasks, string queue, CancellationToken cancellationToken)
    {
        var done = new List<(string Customer, TaskInfo Task)>();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < TasksPerStrategy)
            {
                var customer = "customer-" + (i % Customers).ToString(CultureInfo.InvariantCulture);
                var t = await tasks.SubmitAsync(new TaskSubmission("sleep", "[5]") { Queue = queue, Key = customer });
                var d = await tasks.WaitAsync(t.Id, Wait, cancellationToken);
                lock (done)
                {
                    done.Add((customer, d));
                }
            }
        }));
        return done;
    }
}
