using Granary.LoadBalancing;
using Granary.Scheduling;
using Microsoft.Extensions.Options;

namespace Granary.Server.Scheduling;

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Scheduling</c>.</summary>
public sealed class SchedulingOptionsValidator : IValidateOptions<SchedulingOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, SchedulingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        const string S = SchedulingOptions.SectionName;
        var errors = new List<string>();
        foreach (var problem in options.Queues.Select(TaskQueueName.Problem).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            errors.Add($"{S}:Queues: {problem} (names of 1 to {Limits.Scheduling.MaxQueueNameLength} characters without '/').");
        }

        if (options.WorkersPerSilo is < 0 or > 64)
        {
            errors.Add($"{S}:WorkersPerSilo must be between 0 and 64.");
        }

        if (options.WorkerCapacity is < 1 or > 10_000 || options.WorkerWeight is < 1 or > 1000)
        {
            errors.Add($"{S}:WorkerCapacity must be 1..10000 and WorkerWeight 1..1000.");
        }

        if (!LoadBalancerFactory.TryParse(options.DefaultBalancer, out _))
        {
            errors.Add($"{S}:DefaultBalancer '{options.DefaultBalancer}' is not one of {string.Join(", ", LoadBalancerFactory.Names)}.");
        }

        if (options.DefaultPartitions is < 1 or > Limits.Scheduling.MaxPartitions)
        {
            errors.Add($"{S}:DefaultPartitions must be between 1 and {Limits.Scheduling.MaxPartitions}.");
        }

        if (options.DefaultMaxRetries is < 0 or > 100)
        {
            errors.Add($"{S}:DefaultMaxRetries must be between 0 and 100.");
        }

        if (options.DefaultTimeLimit <= TimeSpan.Zero || options.LeaseTimeout <= TimeSpan.Zero || options.HeartbeatInterval <= TimeSpan.Zero
            || options.KeeperInterval <= TimeSpan.Zero || options.ResultRetention <= TimeSpan.Zero || options.SchedulerIdleTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}: DefaultTimeLimit, LeaseTimeout, HeartbeatInterval, KeeperInterval, ResultRetention and SchedulerIdleTimeout must be positive.");
        }

        if (options.HeartbeatInterval * 2 > options.LeaseTimeout)
        {
            errors.Add($"{S}:LeaseTimeout ({options.LeaseTimeout}) must be at least twice HeartbeatInterval ({options.HeartbeatInterval}), or healthy runs lose their lease.");
        }

        if (options.DefaultBackoffBase <= TimeSpan.Zero || options.DefaultBackoffCap < options.DefaultBackoffBase)
        {
            errors.Add($"{S}:DefaultBackoffBase must be positive and DefaultBackoffCap at least as long.");
        }

        if (options.Grocery.PickFailureRate is < 0 or > 1 || options.Grocery.AssignFailureRate is < 0 or > 1
            || options.Grocery.PickDurationMs < 0 || options.Grocery.AssignDurationMs < 0)
        {
            errors.Add($"{S}:Grocery failure rates must be in [0, 1] and durations non-negative.");
        }

        foreach (var (type, limit) in options.RateLimits)
        {
            if (limit.PerSecond <= 0 || limit.Burst < 0)
            {
                errors.Add($"{S}:RateLimits:{type} needs PerSecond > 0 and Burst >= 0.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
