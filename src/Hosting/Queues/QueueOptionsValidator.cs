using Granary.Queues;
using Microsoft.Extensions.Options;

namespace Granary.Server.Queues;

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Queues</c>.</summary>
public sealed class QueueOptionsValidator : IValidateOptions<QueueOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, QueueOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (options.DefaultPartitions is < 1 or > Limits.Queues.MaxPartitions)
        {
            errors.Add($"{QueueOptions.SectionName}:DefaultPartitions must be between 1 and {Limits.Queues.MaxPartitions}.");
        }

        if (options.DefaultMaxDeliveries is < 1 or > Limits.Queues.MaxDeliveries)
        {
            errors.Add($"{QueueOptions.SectionName}:DefaultMaxDeliveries must be between 1 and {Limits.Queues.MaxDeliveries}.");
        }

        if (options.DefaultDeduplicationWindow < TimeSpan.Zero || options.DefaultDeduplicationWindow > Limits.Queues.MaxDeduplicationWindow)
        {
            errors.Add($"{QueueOptions.SectionName}:DefaultDeduplicationWindow must be between 0 and {Limits.Queues.MaxDeduplicationWindow}.");
        }

        if (options.MaxDepthCeiling is < 1 or > Limits.Queues.MaxDepth)
        {
            errors.Add($"{QueueOptions.SectionName}:MaxDepthCeiling must be between 1 and {Limits.Queues.MaxDepth}.");
        }

        if (options.DefaultMaxDepth < 1 || options.DefaultMaxDepth > Math.Min(options.MaxDepthCeiling, Limits.Queues.MaxDepth))
        {
            errors.Add($"{QueueOptions.SectionName}:DefaultMaxDepth must be between 1 and MaxDepthCeiling ({options.MaxDepthCeiling}).");
        }

        if (options.MemoryWindow is < 1 or > Limits.Queues.MaxMemoryWindow)
        {
            errors.Add($"{QueueOptions.SectionName}:MemoryWindow must be between 1 and {Limits.Queues.MaxMemoryWindow}.");
        }

        if (options.CleanupInterval <= TimeSpan.Zero)
        {
            errors.Add($"{QueueOptions.SectionName}:CleanupInterval must be positive.");
        }

        if (options.StoreTransactionsPerShard is < 1 or > 16)
        {
            errors.Add($"{QueueOptions.SectionName}:StoreTransactionsPerShard must be between 1 and 16.");
        }

        if (!Enum.IsDefined(options.Store))
        {
            errors.Add($"{QueueOptions.SectionName}:Store must be Auto, Memory or Postgres.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
