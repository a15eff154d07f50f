using Granary.Errors;
using Granary.Identity;

namespace Granary.Queues;

/// <summary>Implements <see cref="IExchangeGrain"/>: persisted kind and bindings; publish fans out to partition grains.</summary>
[GrainType("granary.queues.exchange")]
[KeyIsName("exchange")]
public sealed class ExchangeGrain(
    [PersistentState("queue-exchange", GranaryStorage.Default)] IPersistentState<ExchangeState> state) : Grain, IExchangeGrain
{
    private readonly Dictionary<string, QueueInfo> _queues = new(StringComparer.Ordinal);

    /// <inheritdoc/>
    public async Task<ExchangeInfo> DeclareAsync(ExchangeKind kind)
    {
        var name = QueueGrain.ValidateName(this.GetPrimaryKeyString());
        if (!Enum.IsDefined(kind))
        {
            throw new InvalidRequestException(nameof(kind), $"'{kind}' is not direct, topic or fanout");
        }

        if (state.State.Kind is { } existing)
        {
            return existing == kind ? Info() : throw new InvalidRequestException(nameof(kind), $"exchange '{name}' already exists as {existing}");
        }

        state.State.Kind = kind;
        await WriteOrRollbackAsync(() => state.State.Kind = null);
        return Info();
    }

    /// <inheritdoc/>
    public Task<ExchangeInfo> GetInfoAsync()
    {
        Require();
        return Task.FromResult(Info());
    }

    /// <inheritdoc/>
    public async Task<ExchangeInfo> BindAsync(string queue, string bindingKey)
    {
        Require();
        QueueGrain.ValidateName(queue);
        ValidateKey(bindingKey, nameof(bindingKey));
        await QueueInfoAsync(queue); // the queue must exist
        var binding = new ExchangeBinding(queue, bindingKey);
        if (!state.State.Bindings.Contains(binding))
        {
            state.State.Bindings.Add(binding);
            await WriteOrRollbackAsync(() => state.State.Bindings.Remove(binding));
        }

        return Info();
    }

    /// <inheritdoc/>
    public async Task<ExchangeInfo> UnbindAsync(string queue, string bindingKey)
    {
        Require();
        var binding = new ExchangeBinding(queue, bindingKey);
        var index = state.State.Bindings.IndexOf(binding);
        if (index >= 0)
        {
            state.State.Bindings.RemoveAt(index);
            await WriteOrRollbackAsync(() => state.State.Bindings.Insert(index, binding));
        }

        return Info();
    }

    /// <inheritdoc/>
    public async Task<PublishResult> PublishAsync(string routingKey, QueueMessageInput message)
    {
        var kind = Require();
        ValidateKey(routingKey, nameof(routingKey));
        if (message is null)
        {
            throw new InvalidRequestException(nameof(message), "must not be null");
        }

        // Same id in every routed queue: a retried publish is deduplicated per queue.
        var id = message.Id ?? UniqueIds.Next();
        var routed = state.State.Bindings
            .Where(b => kind switch
            {
                ExchangeKind.Direct => string.Equals(b.BindingKey, routingKey, StringComparison.Ordinal),
                ExchangeKind.Topic => TopicPattern.Matches(b.BindingKey, routingKey),
                _ => true,
            })
            .Select(b => b.Queue)
            .Distinct(StringComparer.Ordinal)
            .ToList();
        if (routed.Count == 0)
        {
            return new PublishResult(id, [], [], Unroutable: true);
        }

        var withId = message with { Id = id };
        QueueLimits.Validate(withId);
        var parts = await Task.WhenAll(routed.Select(async queue =>
        {
            var info = await QueueInfoAsync(queue);
            var partition = QueuePlacement.PartitionFor(withId.Key, id, info.Partitions);
            return new QueueEnqueuePart(queue, GrainFactory.GetGrain<IQueuePartitionGrain>(QueuePlacement.PartitionKey(queue, partition)), [withId]);
        }));

        // All or nothing when a routed queue is full: nothing is stored anywhere.
        var enqueued = await QueueEnqueues.AllOrNothingAsync(parts, $"exchange '{this.GetPrimaryKeyString()}': message '{id}'");
        return new PublishResult(id, routed, enqueued.Select(r => r[0]).ToList(), Unroutable: false);
    }

    private static void ValidateKey(string key, string parameter)
    {
        if (key is null)
        {
            throw new InvalidRequestException(parameter, "must not be null");
        }

        if (key.Length > Limits.MaxKeyLength)
        {
            throw new InvalidRequestException(parameter, $"is {key.Length} characters long; the limit is {Limits.MaxKeyLength}");
        }
    }

    private async Task<QueueInfo> QueueInfoAsync(string queue)
    {
        if (!_queues.TryGetValue(queue, out var info))
        {
            info = await GrainFactory.GetGrain<IQueueGrain>(queue).GetInfoAsync();
            _queues[queue] = info;
        }

        return info;
    }

    private async Task WriteOrRollbackAsync(Action rollback)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            rollback();
            throw;
        }
    }

    private ExchangeKind Require() => state.State.Kind ?? throw new ExchangeNotFoundException(this.GetPrimaryKeyString());

    private ExchangeInfo Info() => new(this.GetPrimaryKeyString(), state.State.Kind ?? ExchangeKind.Direct, state.State.Bindings.ToList());
}
