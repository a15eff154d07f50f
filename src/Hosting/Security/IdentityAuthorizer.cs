using System.Diagnostics;
using System.Reflection;
using Granary.Caching;
using Granary.Errors;
using Granary.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Granary.Hosting.Security;

/// <summary>
/// The client-call check behind the wall when identities are configured (<see cref="IdentityOptions"/>):
/// takes the credential out of the request context (always, so grain code never sees it), finds
/// the identity and checks that it holds the permission the method needs. No or an unknown
/// credential: <c>UNAUTHENTICATED</c>; a permission not granted: <c>PERMISSION_DENIED</c> naming the
/// identity, method and permission. Allowed admin calls and every refusal are logged (refusals
/// throttled, see <see cref="AuthorizationOptions.DeniedLogInterval"/>) and counted in
/// <see cref="SecurityMetrics"/>.
/// </summary>
public sealed class IdentityAuthorizer : IClientCallAuthorizer
{
    /// <summary>The identity name of a caller without a valid credential, in logs and metrics.</summary>
    public const string Anonymous = "anonymous";

    private static readonly MethodInfo CacheExecute = typeof(ICacheShardGrain).GetMethod(nameof(ICacheShardGrain.ExecuteAsync))!;

    private readonly IdentityTable? _table;
    private readonly SecurityMetrics _metrics;
    private readonly ILogger _logger;
    private readonly DeniedCallThrottle _throttle;

    /// <summary>Creates the check from validated options.</summary>
    public IdentityAuthorizer(IOptions<IdentityOptions> options, SecurityMetrics metrics, ILogger<IdentityAuthorizer> logger, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _metrics = metrics ?? throw new ArgumentNullException(nameof(metrics));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        var value = options.Value;
        _table = value.IsEnforced ? new IdentityTable(value) : null;
        _throttle = new DeniedCallThrottle(time, value.Authorization.DeniedLogInterval);
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
        var token = TakeToken();
        if (_table is null)
        {
            return null;
        }

        var needed = Needed(context, permission);
        var identity = token is null ? null : _table.FindByToken(token);
        if (identity is null)
        {
            return Deny(ErrorCodes.Unauthenticated, Anonymous, method, First(needed), token is null ? "no credential" : "unknown token");
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

    private static string? TakeToken()
    {
        if (RequestContext.Get(ClientCredentials.TokenKey) is not { } value)
        {
            return null;
        }

        RequestContext.Remove(ClientCredentials.TokenKey);
        return value as string;
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
            ? $"{method} needs an identity with {name}, and the call carried {(reason == "no credential" ? "no credential" : "a token no identity has")}: give the client its token (Granary:Client:Token or Granary:Client:TokenFile; the console's --token-file)"
            : $"identity '{identity}' may not call {method}: it needs {name}, which the identity does not hold";
        return new PermissionDeniedException(code, method, permission, message);
    }
}
