using System.Collections.Concurrent;
using Granary.Errors;
using Granary.Queues;
using Granary.Server.Storage;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// Storage faults for in-process silos: the next write of a chosen target (a grain state name, or
/// <see cref="QueueTarget"/> for queue partitions) whose key contains a chosen fragment is held until
/// the test lets it go or fails it, fails before it reaches storage, or is applied and then fails
/// (a commit whose answer was lost). Also counts what really reached storage, and tells when a
/// grain call has been dispatched (<see cref="NextCall"/>).
/// </summary>
/// <example><code>
/// var held = faults.Hold(StorageFaults.QueueTarget, queue);
/// var original = client.EnqueueAsync(queue, message);
/// await held.Entered.WaitAsync(Deadline);
/// held.Fail(new IOException("connection reset"));
/// </code></example>
public sealed class StorageFaults
{
    /// <summary>The target name of queue partition writes.</summary>
    public const string QueueTarget = "queue-partition";

    private readonly Lock _gate = new();
    private readonly List<Rule> _rules = [];
    private readonly ConcurrentDictionary<string, int> _appended = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _stateWrites = new(StringComparer.Ordinal);
    private readonly List<(string Method, string KeyFragment, TaskCompletionSource Seen)> _callWatchers = [];

    /// <summary>Holds the next matching write until <see cref="HeldWrite.Release"/> or <see cref="HeldWrite.Fail"/>.</summary>
    public HeldWrite Hold(string target, string keyFragment) => Add(target, keyFragment, RuleKind.Hold, null).Held!;

    /// <summary>Fails the next matching write with <paramref name="error"/> before it reaches storage.</summary>
    public void FailBefore(string target, string keyFragment, Exception error) => Add(target, keyFragment, RuleKind.FailBefore, error);

    /// <summary>Applies the next matching write, then fails it with <paramref name="error"/> (its caller cannot tell it was stored).</summary>
    public void FailAfter(string target, string keyFragment, Exception error) => Add(target, keyFragment, RuleKind.FailAfter, error);

    /// <summary>
    /// Completes when the next call of <paramref name="method"/> (interface method name) to a grain
    /// whose id contains <paramref name="keyFragment"/> is dispatched on its activation: the test then
    /// knows the call runs before anything it does next can reach that activation.
    /// </summary>
    public Task NextCall(string method, string keyFragment)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            _callWatchers.Add((method, keyFragment, seen));
        }

        return seen.Task;
    }

    /// <summary>Appends of queue messages with this id that reached storage.</summary>
    public int AppendsOf(string messageId) => _appended.GetValueOrDefault(messageId);

    /// <summary>Writes of this state whose grain key contains the fragment that reached storage.</summary>
    public int StateWritesOf(string stateName, string keyFragment) =>
        _stateWrites.Where(kv => kv.Key.StartsWith(stateName + "|", StringComparison.Ordinal) && kv.Key.Contains(keyFragment, StringComparison.Ordinal)).Sum(kv => kv.Value);

    /// <summary>The faults of an in-process silo of the cluster.</summary>
    public static StorageFaults Of(TestCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return ((InProcessSiloHandle)cluster.Silos[0]).SiloHost.Services.GetRequiredService<StorageFaults>();
    }

    /// <summary>Runs <paramref name="write"/> under the first matching rule, if any.</summary>
    internal async Task RunAsync(string target, string key, Func<Task> write)
    {
        Rule? rule;
        lock (_gate)
        {
            rule = _rules.FirstOrDefault(r => r.Target == target && key.Contains(r.KeyFragment, StringComparison.Ordinal));
            if (rule is not null)
            {
                _rules.Remove(rule);
            }
        }

        switch (rule?.Kind)
        {
            case RuleKind.Hold:
                rule.Held!.Enter();
                await rule.Held.Outcome;
                await write();
                break;
            case RuleKind.FailBefore:
                throw rule.Error!;
            case RuleKind.FailAfter:
                await write();
                throw rule.Error!;
            default:
                await write();
                break;
        }
    }

    internal void OnCall(string method, string grain)
    {
        lock (_gate)
        {
            var index = _callWatchers.FindIndex(w => w.Method == method && grain.Contains(w.KeyFragment, StringComparison.Ordinal));
            if (index >= 0)
            {
                _callWatchers[index].Seen.TrySetResult();
                _callWatchers.RemoveAt(index);
            }
        }
    }

    internal void RecordAppends(IEnumerable<QueuePartitionChange> changes)
    {
        foreach (var change in changes.Where(c => c.Kind == QueueChangeKind.Append))
        {
            _appended.AddOrUpdate(change.Id, 1, (_, n) => n + 1);
        }
    }

    internal void RecordStateWrite(string stateName, GrainId grainId) =>
        _stateWrites.AddOrUpdate(stateName + "|" + grainId, 1, (_, n) => n + 1);

    private Rule Add(string target, string keyFragment, RuleKind kind, Exception? error)
    {
        var rule = new Rule(target, keyFragment, kind, error, kind == RuleKind.Hold ? new HeldWrite() : null);
        lock (_gate)
        {
            _rules.Add(rule);
        }

        return rule;
    }

    private enum RuleKind
    {
        Hold,
        FailBefore,
        FailAfter,
    }

    private sealed record Rule(string Target, string KeyFragment, RuleKind Kind, Exception? Error, HeldWrite? Held);
}

/// <summary>A write held by <see cref="StorageFaults.Hold"/>.</summary>
public sealed class HeldWrite
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the write has started and is being held.</summary>
    public Task Entered => _entered.Task;

    internal Task Outcome => _outcome.Task;

    /// <summary>Lets the write go to storage.</summary>
    public void Release() => _outcome.TrySetResult();

    /// <summary>Fails the write without storing it.</summary>
    public void Fail(Exception error) => _outcome.TrySetException(error);

    internal void Enter() => _entered.TrySetResult();
}

/// <summary>An <see cref="IQueueMessageStore"/> that applies <see cref="StorageFaults"/> to partition writes.</summary>
public sealed class FaultInjectingQueueMessageStore(IQueueMessageStore inner, StorageFaults faults) : IQueueMessageStore
{
    /// <inheritdoc/>
    public Task<QueuePartitionSnapshot> OpenAsync(string partition, CancellationToken cancellationToken) =>
        inner.OpenAsync(partition, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<StoredQueueMessage>> ReadIndexAsync(string partition, long afterSequence, int limit, CancellationToken cancellationToken) =>
        inner.ReadIndexAsync(partition, afterSequence, limit, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<StoredQueueMessage>> ReadPageAsync(string partition, QueuePage page, CancellationToken cancellationToken) =>
        inner.ReadPageAsync(partition, page, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyDictionary<long, byte[]>> ReadBodiesAsync(string partition, IReadOnlyCollection<long> sequences, CancellationToken cancellationToken) =>
        inner.ReadBodiesAsync(partition, sequences, cancellationToken);

    /// <inheritdoc/>
    public Task WriteAsync(string partition, long epoch, IReadOnlyList<QueuePartitionChange> changes, DateTimeOffset? deleteSettledBefore, CancellationToken cancellationToken) =>
        faults.RunAsync(StorageFaults.QueueTarget, partition, async () =>
        {
            await inner.WriteAsync(partition, epoch, changes, deleteSettledBefore, cancellationToken);
            faults.RecordAppends(changes);
        });
}

/// <summary>An <see cref="IGrainStorage"/> that applies <see cref="StorageFaults"/> to state writes (target: the state name).</summary>
public sealed class FaultInjectingGrainStorage(IGrainStorage inner, StorageFaults faults) : IGrainStorage
{
    /// <inheritdoc/>
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ReadStateAsync(stateName, grainId, grainState);

    /// <inheritdoc/>
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        faults.RunAsync(stateName, grainId.ToString(), async () =>
        {
            await inner.WriteStateAsync(stateName, grainId, grainState);
            faults.RecordStateWrite(stateName, grainId);
        });

    /// <inheritdoc/>
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) => inner.ClearStateAsync(stateName, grainId, grainState);
}

/// <summary>Reports every grain call dispatched on the silo to <see cref="StorageFaults.OnCall"/>.</summary>
public sealed class CallObserver(StorageFaults faults) : IIncomingGrainCallFilter
{
    /// <inheritdoc/>
    public Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        faults.OnCall(context.InterfaceMethod.Name, context.TargetId.ToString());
        return context.Invoke();
    }
}

/// <summary>
/// (d) One in-process silo with memory storage whose grain state and queue partition writes go
/// through <see cref="StorageFaults"/>: for tests of what callers see when a write fails, is
/// held, or is applied but reported failed.
/// </summary>
public sealed class FaultInjectionClusterFixture : GranaryTestClusterFixture
{
    /// <summary>The silo's faults.</summary>
    public StorageFaults Faults => StorageFaults.Of(Cluster);

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Options.InitialSilosCount = 1;
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.AddSiloBuilderConfigurator<FaultInjectionConfigurator>();
        return Task.CompletedTask;
    }
}

/// <summary>Wraps the silo's default grain storage and queue message store (registered last, so they win).</summary>
public sealed class FaultInjectionConfigurator : ISiloConfigurator
{
    /// <inheritdoc/>
    public void Configure(ISiloBuilder siloBuilder)
    {
        ArgumentNullException.ThrowIfNull(siloBuilder);
        siloBuilder.Services.AddSingleton<StorageFaults>();
        siloBuilder.AddIncomingGrainCallFilter<CallObserver>();
        siloBuilder.Services.AddSingleton<IQueueMessageStore>(sp => new FaultInjectingQueueMessageStore(new MemoryQueueMessageStore(), sp.GetRequiredService<StorageFaults>()));
        siloBuilder.Services.AddKeyedSingleton<IGrainStorage>(StorageNames.Default, (sp, _) =>
            new FaultInjectingGrainStorage(MemoryGrainStorageFactory.Create(sp, StorageNames.Default), sp.GetRequiredService<StorageFaults>()));
    }
}

/// <summary>Definition of the shared fault-injection cluster.</summary>
[CollectionDefinition(Name)]
public sealed class FaultInjectionCollection : ICollectionFixture<FaultInjectionClusterFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "fault-injection-cluster";
}

/// <summary>A client that retries a call on any error, as the producers and lock holders of these tests would.</summary>
public static class ClientRetry
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>
    /// True for an error a client sees while a silo, a gateway or storage is lost and which it should
    /// answer by sending the same request again: a timeout, an Orleans messaging error, or a Granary
    /// error whose code is retryable (<see cref="ErrorCodes.IsRetryable"/>).
    /// </summary>
    public static bool IsTransient(Exception exception) =>
        exception is TimeoutException or OrleansException || exception is GranaryException granary && ErrorCodes.IsRetryable(granary.Code);

    /// <summary>Calls until one call succeeds; once <paramref name="deadline"/> has passed, the last error fails the test.</summary>
    public static Task<T> UntilSuccessAsync<T>(Func<Task<T>> call, TimeSpan deadline)
    {
        ArgumentNullException.ThrowIfNull(call);

        // E.g. the grain is reloading after a failed write: try again shortly.
        return Eventually.SucceedsAsync("a call to succeed", () => call().WaitAsync(deadline), deadline, poll: Interval);
    }
}
