using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Granary.Client.DependencyInjection;
using Granary.Client.Scheduling;
using Granary.Queues;
using Granary.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Granary.Client.Queues;

/// <summary>
/// Runs an application's <see cref="IQueueConsumer{TMessage}"/> over a message queue (what
/// <c>AddQueueConsumer</c> registers): leases up to its concurrency of messages with a long-polling
/// dequeue, handles each in its own DI scope while keeping it leased, acks it when the handler returns
/// and nacks it with the backoff of <see cref="QueueConsumerOptions"/> when it throws (the queue
/// redelivers it after the delay, and dead-letters it by its own delivery limit). A body that is not a
/// readable message is dead-lettered at once: no retry can fix it.
/// </summary>
internal sealed class QueueConsumerService<TConsumer, TMessage>(
    QueueClient queues,
    IServiceProvider services,
    string queue,
    JsonTypeInfo<TMessage> message,
    int concurrency,
    QueueConsumerOptions options,
    TimeProvider time,
    ILogger<QueueConsumerService<TConsumer, TMessage>> logger) : BackgroundService
    where TConsumer : class, IQueueConsumer<TMessage>
{
    private readonly SemaphoreSlim _slots = new(concurrency, concurrency);
    private readonly BackoffPolicy _backoff = new(options.BackoffBase, options.BackoffCap, options.Jitter);
    private readonly string _consumer = options.ConsumerName ?? $"{Environment.MachineName}-{Environment.ProcessId}";
    private readonly List<Task> _handling = [];

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            // At least one free slot, then every other free one: never more messages leased than can run.
            try
            {
                await _slots.WaitAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var slots = 1;
            while (slots < concurrency && _slots.Wait(0))
            {
                slots++;
            }

            IReadOnlyList<QueueDelivery> deliveries = [];
            try
            {
                deliveries = await queues.DequeueAsync(queue, _consumer, slots, options.VisibilityTimeout, options.PollWait, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping: a lease taken meanwhile expires and the message is delivered again.
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                WorkerLog.LogWarningConsumerCallFailed(logger, queue, "dequeue", ex);
                await PauseAsync(stoppingToken);
            }

            foreach (var delivery in deliveries)
            {
                Track(Task.Run(() => HandleAsync(delivery), CancellationToken.None));
            }

            if (slots > deliveries.Count)
            {
                _slots.Release(slots - deliveries.Count);
            }
        }

        // Messages being handled finish (until the host's shutdown timeout): an ack is not thrown away.
        await Task.WhenAll(Handling());
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        _slots.Dispose();
        base.Dispose();
    }

    private async Task HandleAsync(QueueDelivery delivery)
    {
        try
        {
            TMessage body;
            try
            {
                body = JsonSerializer.Deserialize(delivery.Body, message)!;
            }
            catch (JsonException ex)
            {
                WorkerLog.LogWarningMessageUnreadable(logger, queue, delivery.Id, typeof(TMessage).Name, ex);
                await queues.NackAsync(queue, delivery.Receipt, TimeSpan.Zero, deadLetter: true);
                return;
            }

            Exception? failure = null;
            using (var lease = new CancellationTokenSource())
            {
                var keeper = KeepLeasedAsync(delivery, lease.Token);
                try
                {
                    var scope = services.CreateAsyncScope();
                    await using (scope.ConfigureAwait(false))
                    {
                        await scope.ServiceProvider.GetRequiredService<TConsumer>().HandleAsync(body, CancellationToken.None);
                    }
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    failure = ex;
                }
                finally
                {
                    await lease.CancelAsync();
                    await keeper;
                }
            }

            if (failure is null)
            {
                await queues.AckAsync(queue, delivery.Receipt);
            }
            else
            {
                var delay = _backoff.DelayFor(Math.Max(1, delivery.Deliveries), Random.Shared);
                WorkerLog.LogWarningMessageFailed(logger, queue, delivery.Id, delivery.Deliveries, delay, failure);
                await queues.NackAsync(queue, delivery.Receipt, delay);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The ack or nack did not reach the queue: the lease expires and the message is delivered again.
            WorkerLog.LogWarningConsumerCallFailed(logger, queue, "ack", ex);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Extends the message's lease at half its visibility timeout while the handler runs.</summary>
    private async Task KeepLeasedAsync(QueueDelivery delivery, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(options.VisibilityTimeout / 2, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await queues.ExtendAsync(queue, delivery.Receipt, options.VisibilityTimeout);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // The next tick tries again; past the timeout the message is delivered again (at least once).
                    WorkerLog.LogWarningConsumerCallFailed(logger, queue, "extend", ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The handler finished.
        }
    }

    private async Task PauseAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(options.PollWait, time, cancellationToken); // the queue is unreachable: the next dequeue is the retry
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private void Track(Task task)
    {
        lock (_handling)
        {
            _handling.RemoveAll(t => t.IsCompleted);
            _handling.Add(task);
        }
    }

    private List<Task> Handling()
    {
        lock (_handling)
        {
            return [.. _handling];
        }
    }
}
