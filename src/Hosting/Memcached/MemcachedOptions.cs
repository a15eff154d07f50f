using System.Net;
using Granary.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Granary.Server.Memcached;

/// <summary>
/// <c>Granary:Memcached</c>: the Memcached text-protocol endpoint a silo hosts for one cache, so that
/// memcached clients talk to the cache unchanged. Off unless <see cref="Port"/> is set.
/// </summary>
public sealed class MemcachedOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Granary:Memcached";

    /// <summary>Memcached's longest key, in bytes.</summary>
    public const int MaxKeyBytes = 250;

    /// <summary>Ceiling of <see cref="MaxItemSize"/>: an item must fit one grain call.</summary>
    public const int MaxItemSizeCeiling = 64 * 1024 * 1024;

    /// <summary>TCP port of the endpoint; unset (the default) hosts no endpoint; 0 picks a free port (the start-up log names it).</summary>
    public int? Port { get; set; }

    /// <summary>Address to listen on. Default <c>127.0.0.1</c>: the endpoint has no TLS and no authentication, expose it deliberately.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>The cache the endpoint serves. Default <c>default</c> (the console's default cache).</summary>
    public string Cache { get; set; } = "default";

    /// <summary>Most connections open at once; one more is answered <c>SERVER_ERROR max connections reached</c> and closed. Default 1024.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>A connection that sends nothing for this long is closed (memcached's <c>idle_timeout</c>); zero never closes one. Default 10 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest value one item may hold, in bytes (memcached's <c>-I</c>). Default 1 MiB; the cache's own value length applies too.</summary>
    public int MaxItemSize { get; set; } = 1024 * 1024;

    /// <summary>Longest command line of a retrieval command (<c>get</c>, <c>gets</c>, <c>gat</c>, <c>gats</c>: many keys), in bytes. Default 64 KiB; other lines may be 2,048 bytes.</summary>
    public int MaxGetLineLength { get; set; } = 64 * 1024;
}

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Memcached</c>.</summary>
public sealed class MemcachedOptionsValidator : IValidateOptions<MemcachedOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, MemcachedOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var s = MemcachedOptions.SectionName;
        var errors = new List<string>();
        if (options.Port is { } port && (port < 0 || port > 65535))
        {
            errors.Add($"{s}:Port must be between 0 (a free port) and 65535 (got {port}).");
        }

        if (!IPAddress.TryParse(options.Address, out _))
        {
            errors.Add($"{s}:Address must be an IP address (got '{options.Address}').");
        }

        if (string.IsNullOrWhiteSpace(options.Cache) || options.Cache.Contains('/', StringComparison.Ordinal) || options.Cache.Length > Limits.MaxKeyLength)
        {
            errors.Add($"{s}:Cache must name a cache (non-blank, no '/', at most {Limits.MaxKeyLength} characters).");
        }

        if (options.MaxConnections < 1 || options.MaxConnections > 100_000)
        {
            errors.Add($"{s}:MaxConnections must be between 1 and 100000 (got {options.MaxConnections}).");
        }

        if (options.IdleTimeout < TimeSpan.Zero || options.IdleTimeout > TimeSpan.FromDays(7))
        {
            errors.Add($"{s}:IdleTimeout must be between 0 (never) and 7 days (got {options.IdleTimeout}).");
        }

        if (options.MaxItemSize < 1024 || options.MaxItemSize > MemcachedOptions.MaxItemSizeCeiling)
        {
            errors.Add($"{s}:MaxItemSize must be between 1024 and {MemcachedOptions.MaxItemSizeCeiling} (got {options.MaxItemSize}).");
        }

        if (options.MaxGetLineLength < 2048 || options.MaxGetLineLength > 16 * 1024 * 1024)
        {
            errors.Add($"{s}:MaxGetLineLength must be between 2048 and 16777216 (got {options.MaxGetLineLength}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
