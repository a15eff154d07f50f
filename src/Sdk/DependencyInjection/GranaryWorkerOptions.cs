using Granary.Scheduling;

namespace Granary.Client.DependencyInjection;

/// <summary>Settings of a worker an application runs (<see cref="GranaryWorkerServiceCollectionExtensions.AddGranaryWorker(Microsoft.Extensions.DependencyInjection.IServiceCollection, string, int, Action{GranaryWorkerOptions})"/>).</summary>
public sealed class GranaryWorkerOptions
{
    /// <summary>The worker's name within its queue (its id is <c>queue/name</c>); default: machine name, process id and a random suffix.</summary>
    public string? Name { get; set; }

    /// <summary>The worker's weight for weighted balancers, 1..1000; default 1.</summary>
    public int Weight { get; set; } = 1;

    /// <summary>
    /// How often the worker renews its registration and the leases of the tasks it runs; default 1 s.
    /// A shorter interval the cluster asks for (its scheduling heartbeat interval) takes over once a task is claimed.
    /// </summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    internal void Validate()
    {
        if (Name is not null)
        {
            TaskQueueName.Check(Name);
        }

        if (Weight is < 1 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(Weight), Weight, "must be 1..1000");
        }

        if (HeartbeatInterval <= TimeSpan.Zero || HeartbeatInterval > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentOutOfRangeException(nameof(HeartbeatInterval), HeartbeatInterval, "must be positive and at most 1 minute");
        }
    }
}

/// <summary>Settings of a queue consumer an application runs (<see cref="GranaryWorkerServiceCollectionExtensions.AddQueueConsumer{TConsumer, TMessage}(Microsoft.Extensions.DependencyInjection.IServiceCollection, string, System.Text.Json.Serialization.Metadata.JsonTypeInfo{TMessage}, int, Action{QueueConsumerOptions})"/>).</summary>
public sealed class QueueConsumerOptions
{
    /// <summary>The consumer's name the queue sees; default: machine name and process id.</summary>
    public string? ConsumerName { get; set; }

    /// <summary>How long a leased message stays invisible to others; extended at half of it while the handler runs; default 30 s.</summary>
    public TimeSpan VisibilityTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a dequeue waits for a message when the queue is empty (long poll); default 5 s.</summary>
    public TimeSpan PollWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Delay before the first redelivery of a message whose handler threw; doubles per delivery; default 1 s.</summary>
    public TimeSpan BackoffBase { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest delay before a redelivery; default 1 minute.</summary>
    public TimeSpan BackoffCap { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Draw each delay uniformly below its exponential value (full jitter) so failures do not retry in step; default true.</summary>
    public bool Jitter { get; set; } = true;

    internal void Validate()
    {
        if (VisibilityTimeout < TimeSpan.FromSeconds(1) || VisibilityTimeout > TimeSpan.FromHours(12))
        {
            throw new ArgumentOutOfRangeException(nameof(VisibilityTimeout), VisibilityTimeout, "must be between 1 second and 12 hours");
        }

        if (PollWait < TimeSpan.Zero || PollWait > TimeSpan.FromSeconds(20))
        {
            throw new ArgumentOutOfRangeException(nameof(PollWait), PollWait, "must be between 0 and 20 seconds");
        }

        // Checks base and cap the way the scheduler's retries are checked.
        _ = new BackoffPolicy(BackoffBase, BackoffCap, Jitter);
    }
}
