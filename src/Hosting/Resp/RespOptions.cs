using System.Net;
using Granary.Client.Configuration;
using Microsoft.Extensions.Options;

namespace Granary.Server.Resp;

/// <summary>
/// <c>Granary:Resp</c>: the Redis-protocol (RESP2/RESP3) endpoint a silo hosts for its caches, so that
/// redis-cli, redis-benchmark and Redis client libraries talk to the cache unchanged. Off unless
/// <see cref="Port"/> is set.
/// </summary>
public sealed class RespOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Granary:Resp";

    /// <summary>Ceiling of <see cref="MaxBulkLength"/> and <see cref="MaxRequestBytes"/>: a request must fit one grain call.</summary>
    public const int MaxRequestCeiling = 64 * 1024 * 1024;

    /// <summary>Ceiling of <see cref="MaxMultibulkCount"/> (Redis's own limit).</summary>
    public const int MaxMultibulkCeiling = 1024 * 1024;

    /// <summary>TCP port of the endpoint; unset (the default) hosts no endpoint; 0 picks a free port (the start-up log names it).</summary>
    public int? Port { get; set; }

    /// <summary>Address to listen on. Default <c>127.0.0.1</c>: the endpoint has no TLS, expose it deliberately.</summary>
    public string Address { get; set; } = "127.0.0.1";

    /// <summary>
    /// The caches a connection can use, by <c>SELECT</c> index: database 0 is the first (the console's
    /// <c>default</c> cache unless set). Empty (the default) means <c>["default"]</c>.
    /// </summary>
    public string[] Databases { get; set; } = [];

    /// <summary>The cache of each database index: <see cref="Databases"/>, or the default cache alone.</summary>
    internal string[] Caches => Databases is { Length: > 0 } ? Databases : [DefaultCache];

    /// <summary>The cache of database 0 when <see cref="Databases"/> is empty (the console's default cache).</summary>
    public const string DefaultCache = "default";

    /// <summary>
    /// Password of the default user (Redis's <c>requirepass</c>): when set, a connection runs nothing but
    /// <c>AUTH</c>, <c>HELLO ... AUTH</c>, <c>QUIT</c> and <c>RESET</c> until it authenticates. Keep it out of
    /// appsettings.json: put it in the secrets file named by <c>GRANARY_SECRETS_FILE</c> or use <see cref="PasswordFile"/>.
    /// </summary>
    public string? Password { get; set; }

    /// <summary>A file (mode 0600 or stricter) holding the password instead of <see cref="Password"/>.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>Most connections open at once; one more is answered <c>-ERR max number of clients reached</c> and closed. Default 1024.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>A connection that sends nothing for this long is closed (Redis's <c>timeout</c>); zero never closes one. Default 10 minutes.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest bulk string a request may carry (Redis's <c>proto-max-bulk-len</c>). Default 1 MiB.</summary>
    public int MaxBulkLength { get; set; } = 1024 * 1024;

    /// <summary>Most arguments one command may have (the multibulk count). Default 65,536.</summary>
    public int MaxMultibulkCount { get; set; } = 65_536;

    /// <summary>Most bytes one command may take on the wire (Redis's query buffer limit). Default 8 MiB.</summary>
    public int MaxRequestBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>
    /// Answer as a Redis Cluster node (<c>CLUSTER SLOTS|SHARDS|NODES|...</c>, <c>cluster-enabled yes</c>), so that
    /// cluster-aware clients send each key to the silo hosting its shard. Default false: the endpoint answers as
    /// a standalone Redis (any silo serves every key either way).
    /// </summary>
    public bool ClusterMode { get; set; }

    /// <summary>The password from <see cref="Password"/> or <see cref="PasswordFile"/> (null when neither is set).</summary>
    internal string? ResolvePassword() =>
        !string.IsNullOrEmpty(PasswordFile) ? File.ReadAllText(PasswordFile).TrimEnd('\r', '\n') : string.IsNullOrEmpty(Password) ? null : Password;
}

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Resp</c>.</summary>
public sealed class RespOptionsValidator : IValidateOptions<RespOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, RespOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var s = RespOptions.SectionName;
        var errors = new List<string>();
        if (options.Port is { } port && (port < 0 || port > 65535))
        {
            errors.Add($"{s}:Port must be between 0 (a free port) and 65535 (got {port}).");
        }

        if (!IPAddress.TryParse(options.Address, out _))
        {
            errors.Add($"{s}:Address must be an IP address (got '{options.Address}').");
        }

        if (options.Databases is null || options.Databases.Length > 1024)
        {
            errors.Add($"{s}:Databases must name at most 1024 caches.");
        }
        else if (options.Databases.Any(d => string.IsNullOrWhiteSpace(d) || d.Contains('/', StringComparison.Ordinal) || d.Length > Limits.MaxKeyLength))
        {
            errors.Add($"{s}:Databases must name caches (non-blank, no '/', at most {Limits.MaxKeyLength} characters).");
        }

        if (!string.IsNullOrEmpty(options.Password) && !string.IsNullOrEmpty(options.PasswordFile))
        {
            errors.Add($"{s}:Password and {s}:PasswordFile are both set; set one.");
        }
        else if (!string.IsNullOrEmpty(options.PasswordFile))
        {
            if (RedisSecrets.CheckPrivateFile($"{s}:PasswordFile", options.PasswordFile) is { } error)
            {
                errors.Add(error);
            }
            else if (string.IsNullOrEmpty(options.ResolvePassword()))
            {
                errors.Add($"{s}:PasswordFile names '{options.PasswordFile}', which is empty.");
            }
        }

        if (options.MaxConnections < 1 || options.MaxConnections > 100_000)
        {
            errors.Add($"{s}:MaxConnections must be between 1 and 100000 (got {options.MaxConnections}).");
        }

        if (options.IdleTimeout < TimeSpan.Zero || options.IdleTimeout > TimeSpan.FromDays(7))
        {
            errors.Add($"{s}:IdleTimeout must be between 0 (never) and 7 days (got {options.IdleTimeout}).");
        }

        if (options.MaxRequestBytes < 1024 || options.MaxRequestBytes > RespOptions.MaxRequestCeiling)
        {
            errors.Add($"{s}:MaxRequestBytes must be between 1024 and {RespOptions.MaxRequestCeiling} (got {options.MaxRequestBytes}).");
        }

        if (options.MaxBulkLength < 1 || options.MaxBulkLength > options.MaxRequestBytes)
        {
            errors.Add($"{s}:MaxBulkLength must be between 1 and MaxRequestBytes ({options.MaxRequestBytes}) (got {options.MaxBulkLength}).");
        }

        if (options.MaxMultibulkCount < 1 || options.MaxMultibulkCount > RespOptions.MaxMultibulkCeiling)
        {
            errors.Add($"{s}:MaxMultibulkCount must be between 1 and {RespOptions.MaxMultibulkCeiling} (got {options.MaxMultibulkCount}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
