using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Granary.Caching;
using Granary.Client.Collections;
using Granary.Client.Security;
using Granary.Errors;
using Granary.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Configuration;

namespace Granary.Server.Security;

/// <summary>
/// The client-call check behind the wall when identities are configured (<see cref="IdentityOptions"/>):
/// takes the credential out of the request context (always, so grain code never sees it), finds
/// the identity and checks that it holds the permission the method needs. No or an unknown
/// credential: <c>UNAUTHENTICATED</c>; a permission not granted: <c>PERMISSION_DENIED</c> naming the
/// identity, method and permission. Allowed admin calls and every refusal are logged (refusals
/// throttled, see <see cref="AuthorizationOptions.DeniedLogInterval"/>) and counted in
/// <see cref="SecurityMetrics"/>.
/// </summary>
public sealed class IdentityAuthorizer : IClientCallAuthorizer, IDisposable
{
    /// <summary>Most verified certificate assertions remembered (the cache is emptied when full).</summary>
    public const int MaxRememberedAssertions = 4096;

    private static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);
    /// <summary>The identity name of a caller without a valid credential, in logs and metrics.</summary>
    public const string Anonymous = "anonymous";

    private static readonly MethodInfo CacheExecute = typeof(ICacheShardGrain).GetMethod(nameof(ICacheShardGrain.ExecuteAsync))!;

    private readonly IdentityTable? _table;
    private readonly SecurityMetrics _metrics;
    private readonly ILogger _logger;
    private readonly DeniedCallThrottle _throttle;
    private readonly TimeProvider _time;
    private readonly string _clusterId;
    private readonly TimeSpan _assertionLifetime;
    private readonly BoundedLookup<byte[], (ClientIdentity Identity, DateTimeOffset Until)> _assertions = new(MaxRememberedAssertions, ByteArrayComparer.Instance);

    /// <summary>Creates the check from validated options.</summary>
    public IdentityAuthorizer(IOptions<IdentityOptions> options, IOptions<ClusterOptions> cluster, SecurityMetrics metrics, ILogger<IdentityAuthorizer> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(cluster);
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _clusterId = cluster.Value.ClusterId ?? "";
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        var value = options.Value;
        _table = value.IsEnforced ? new IdentityTable(value) : null;
        _throttle = new DeniedCallThrottle(time, value.Authorization.DeniedLogInterval);
        _assertionLifetime = value.Authorization.AssertionLifetime;
        if (_table is null)
        {
            SecurityLog.LogWarningAuthorizationOff(_logger);
        }
        else
        {
            SecurityLog.LogInformationIdentitiesLoaded(_logger, _table.Identities.Count, string.Join(", ", _table.Identities.Select(i => i.Name)));
        }
    }

    /// <inheritdoc/>
    public PermissionDeniedException? Authorize(IIncomingGrainCallContext context, Permission permission, string method)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(method);
        var token = Take(ClientCredentials.TokenKey) as string;
        var assertion = Take(ClientCredentials.AssertionKey) as byte[];
        if (_table is null)
        {
            return null;
        }

        var needed = Needed(context, permission);
        ClientIdentity? identity;
        string reason;
        if (token is not null)
        {
            identity = _table.FindByToken(token);
            reason = "unknown token";
        }
        else if (assertion is not null)
        {
            identity = FindByAssertion(_table, assertion, out reason);
        }
        else
        {
            identity = null;
            reason = "no credential";
        }

        if (identity is null)
        {
            return Deny(ErrorCodes.Unauthenticated, Anonymous, method, First(needed), reason);
        }

        if ((identity.Mask & needed) != needed || needed == 0)
        {
            return Deny(ErrorCodes.PermissionDenied, identity.Name, method, First(needed & ~identity.Mask), "permission not granted");
        }

        if (PermissionNames.IsAdmin(permission))
        {
            SecurityLog.LogInformationAdminCommand(_logger, identity.Name, method, PermissionNames.NameOf(permission));
            _metrics.AdminCommands.Add(1, new TagList { { "method", method }, { "identity", identity.Name } });
        }

        return null;
    }

    /// <summary>
    /// The permissions a call needs, as a mask: the method's, except that a cache command batch
    /// (marked read or write) needs <see cref="Permission.CacheRead"/> when one of its commands reads
    /// and <see cref="Permission.CacheWrite"/> when one writes (an unknown command counts as a write),
    /// so a read-only identity can send GETs but no SET, and a write-only one no GET. Zero for
    /// <see cref="Permission.Internal"/> (nothing grants it).
    /// </summary>
    internal static ulong Needed(IIncomingGrainCallContext context, Permission permission)
    {
        if (permission == Permission.Internal)
        {
            return 0;
        }

        if (permission is not (Permission.CacheRead or Permission.CacheWrite) || context.InterfaceMethod != CacheExecute)
        {
            return PermissionNames.Bit(permission);
        }

        if (context.Request.GetArgument(0) is not Immutable<string[][]> { Value: { } commands })
        {
            return PermissionNames.Bit(Permission.CacheWrite);
        }

        var needed = 0UL;
        foreach (var command in commands)
        {
            needed |= PermissionNames.Bit(CacheCommandTable.Resolve(command) is { IsWrite: false } ? Permission.CacheRead : Permission.CacheWrite);
        }

        return needed == 0 ? PermissionNames.Bit(Permission.CacheRead) : needed;
    }

    /// <summary>The lowest permission in <paramref name="mask"/> (<see cref="Permission.Internal"/> for none).</summary>
    private static Permission First(ulong mask) => mask == 0 ? Permission.Internal : (Permission)(int)ulong.TrailingZeroCount(mask);

    /// <inheritdoc/>
    public void Dispose() => _table?.Dispose();

    private static object? Take(string key)
    {
        if (RequestContext.Get(key) is not { } value)
        {
            return null;
        }

        RequestContext.Remove(key);
        return value;
    }

    /// <summary>The identity of a verified, still fresh assertion (remembered until it goes stale or the certificate expires).</summary>
    private ClientIdentity? FindByAssertion(IdentityTable table, byte[] assertion, out string reason)
    {
        var now = _time.GetUtcNow();
        if (_assertions.TryGetValue(assertion, out var known) && now <= known.Until)
        {
            reason = "";
            return known.Identity;
        }

        var identity = Verify(table, assertion, now, out reason, out var until);
        if (identity is not null)
        {
            _assertions.Set(assertion, (identity, until));
        }

        return identity;
    }

    private ClientIdentity? Verify(IdentityTable table, byte[] assertion, DateTimeOffset now, out string reason, out DateTimeOffset until)
    {
        until = default;
        using var certificate = ClientCertificateAssertion.Verify(assertion, _clusterId, out var issuedAt, out reason);
        if (certificate is null)
        {
            return null;
        }

        if (issuedAt > now + ClockSkew || issuedAt + _assertionLifetime < now)
        {
            reason = "stale certificate assertion";
            return null;
        }

        var identity = table.FindByCertificate(certificate, now, out reason);
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        until = issuedAt + _assertionLifetime < notAfter ? issuedAt + _assertionLifetime : notAfter;
        return identity;
    }

    private PermissionDeniedException Deny(string code, string identity, string method, Permission permission, string reason)
    {
        var name = PermissionNames.NameOf(permission);
        _metrics.DeniedCalls.Add(1, new TagList { { "method", method }, { "reason", code } });
        if (_throttle.ShouldLog(identity, method, reason, out var suppressed))
        {
            SecurityLog.LogWarningCallDenied(_logger, code, identity, method, name, reason, suppressed);
        }

        var message = code == ErrorCodes.Unauthenticated
            ? $"{method} needs an identity with {name}, and the call was not authenticated ({reason}): give the client its token (Granary:Client:Token or TokenFile; the console's --token-file) or its certificate (Granary:Client:CertificateFile and CertificateKeyFile)"
            : $"identity '{identity}' may not call {method}: it needs {name}, which the identity does not hold";
        return new PermissionDeniedException(code, method, permission, message);
    }
}
