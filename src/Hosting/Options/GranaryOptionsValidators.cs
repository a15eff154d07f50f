using Microsoft.Extensions.Options;
using Npgsql;

namespace Granary.Server.Options;

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Cluster</c>.</summary>
public sealed class GranaryClusterOptionsValidator : IValidateOptions<GranaryClusterOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, GranaryClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!Enum.IsDefined(options.Mode))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:Mode must be Localhost or Redis.");
        }

        if (options.Mode == ClusteringMode.Redis && string.IsNullOrWhiteSpace(options.RedisConnectionString))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:RedisConnectionString is required when Mode is Redis.");
        }

        CheckPort(errors, nameof(options.SiloPort), options.SiloPort, allowZero: false);
        CheckPort(errors, nameof(options.GatewayPort), options.GatewayPort, allowZero: true);
        CheckPort(errors, nameof(options.PrimarySiloPort), options.PrimarySiloPort, allowZero: false);
        foreach (var port in options.ClientGatewayPorts)
        {
            CheckPort(errors, nameof(options.ClientGatewayPorts), port, allowZero: false);
        }

        if (options.SiloPort == options.GatewayPort)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}: SiloPort and GatewayPort must differ (both are {options.SiloPort}).");
        }

        if (!System.Net.IPAddress.TryParse(options.AdvertisedAddress, out _))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:AdvertisedAddress '{options.AdvertisedAddress}' is not an IP address.");
        }

        if (options.ProbeTimeout is { } probe && probe <= TimeSpan.Zero)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:ProbeTimeout must be positive.");
        }

        if (options.NumMissedProbesLimit is < 1 || options.NumVotesForDeathDeclaration is < 1)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}: NumMissedProbesLimit and NumVotesForDeathDeclaration must be at least 1.");
        }

        if (options.CollectionAge is { } age && (age < TimeSpan.FromSeconds(1) || age > TimeSpan.FromDays(1)))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:CollectionAge must be between 00:00:01 and 1.00:00:00 (got {age}).");
        }

        if (options.MinimumReminderPeriod is { } reminder && (reminder < TimeSpan.FromSeconds(1) || reminder > TimeSpan.FromHours(1)))
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:MinimumReminderPeriod must be between 00:00:01 and 01:00:00 (got {reminder}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckPort(List<string> errors, string field, int port, bool allowZero)
    {
        if (port < (allowZero ? 0 : 1) || port > 65535)
        {
            errors.Add($"{GranaryClusterOptions.SectionName}:{field} {port} is not a valid port.");
        }
    }
}

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
