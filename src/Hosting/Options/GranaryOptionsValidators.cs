using Microsoft.Extensions.Options;
using Npgsql;

namespace Granary.Server.Options;

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Storage</c>.</summary>
public sealed class GranaryStorageOptionsValidator : IValidateOptions<GranaryStorageOptions>
{
    /// <summary>Most shards one cluster may use.</summary>
    public const int MaxShards = 64;

    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, GranaryStorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!Enum.IsDefined(options.Mode))
        {
            errors.Add($"{GranaryStorageOptions.SectionName}:Mode must be Memory or PostgresShards.");
        }

        if (options.Mode == StorageMode.PostgresShards)
        {
            if (options.Shards.Length == 0)
            {
                errors.Add($"{GranaryStorageOptions.SectionName}:Shards must list at least one connection string when Mode is PostgresShards.");
            }

            if (options.Shards.Length > MaxShards)
            {
                errors.Add($"{GranaryStorageOptions.SectionName}:Shards lists {options.Shards.Length} shards; at most {MaxShards} are supported.");
            }

            for (var i = 0; i < options.Shards.Length; i++)
            {
                try
                {
                    var csb = new NpgsqlConnectionStringBuilder(options.Shards[i]);
                    if (string.IsNullOrWhiteSpace(csb.Database))
                    {
                        errors.Add($"{GranaryStorageOptions.SectionName}:Shards[{i}] names no Database.");
                    }
                }
                catch (ArgumentException ex)
                {
                    errors.Add($"{GranaryStorageOptions.SectionName}:Shards[{i}] is not a valid connection string: {ex.Message}");
                }
            }
        }

        if (options.VirtualNodesPerShard is < 1 or > Granary.Hashing.ConsistentHashRing.MaxVirtualNodesPerWeight)
        {
            errors.Add($"{GranaryStorageOptions.SectionName}:VirtualNodesPerShard must be between 1 and {Granary.Hashing.ConsistentHashRing.MaxVirtualNodesPerWeight}.");
        }

        if (options.WritesInFlightPerShard is < 1 or > 64)
        {
            errors.Add($"{GranaryStorageOptions.SectionName}:WritesInFlightPerShard must be between 1 and 64 (got {options.WritesInFlightPerShard}).");
        }

        if (options.MaxWritesPerBatch is < 1 or > 1000)
        {
            errors.Add($"{GranaryStorageOptions.SectionName}:MaxWritesPerBatch must be between 1 and 1000 (got {options.MaxWritesPerBatch}).");
        }

        var retry = options.Retry ?? new StorageRetryOptions();
        if (retry.MaxRetries is < 0 or > 20)
        {
            errors.Add($"{GranaryStorageOptions.SectionName}:Retry:MaxRetries must be between 0 and 20 (got {retry.MaxRetries}).");
        }

        if (retry.BaseDelay < TimeSpan.FromMilliseconds(1) || retry.BaseDelay > TimeSpan.FromSeconds(10))
        {
            errors.Add($"{GranaryStorageOptions.SectionName}:Retry:BaseDelay must be between 00:00:00.001 and 00:00:10 (got {retry.BaseDelay}).");
        }

        if (retry.MaxDelay < retry.BaseDelay || retry.MaxDelay > TimeSpan.FromSeconds(30))
        {
            errors.Add($"{GranaryStorageOptions.SectionName}:Retry:MaxDelay must be at least BaseDelay and at most 00:00:30 (got {retry.MaxDelay}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
