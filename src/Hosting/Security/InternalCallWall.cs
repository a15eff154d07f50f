using System.Collections.Concurrent;
using System.Reflection;
using Granary.Errors;
using Granary.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Granary.Server.Security;

/// <summary>
/// The wall between client calls and internal calls: an incoming call filter on every grain and system
/// target of the silo. It takes the <see cref="ClusterProof"/> out of the call's request context (so
/// grain code never sees it and cannot pass it on) and then:
/// <list type="bullet">
/// <item>a valid proof: the call comes from a silo of this cluster and runs;</item>
/// <item>otherwise the call comes from a client connection: a method marked
/// <see cref="Permission.Internal"/> (or unmarked) is refused with <c>PERMISSION_DENIED</c> and nothing
/// runs; a method of an Orleans interface is refused unless <see cref="ClientOpenOrleansCalls"/> opens
/// it; any other method runs if the <see cref="IClientCallAuthorizer"/> allows it.</item>
/// </list>
/// Each refusal is logged (a warning the first time per method and reason, debug after) and counted in
/// <see cref="SecurityMetrics.DeniedCalls"/>.
/// </summary>
public sealed class InternalCallWall(ClusterProof proof, IClientCallAuthorizer authorizer, IOptions<ClientOpenOrleansCalls> open, SecurityMetrics metrics, ILogger<InternalCallWall> logger) : IIncomingGrainCallFilter
{
    private readonly ConcurrentDictionary<MethodInfo, CallRule> _rules = new();
    private readonly ConcurrentDictionary<(string Method, string Reason), bool> _reported = new();

    /// <summary>Why a client call was refused (the <c>reason</c> tag of the counter).</summary>
    internal static class Reasons
    {
        /// <summary>The method is a step between silos.</summary>
        public const string Internal = "internal";

        /// <summary>The method belongs to an Orleans interface that clients may not call.</summary>
        public const string ClosedToClients = "closed-to-clients";

        /// <summary>The client's identity lacks the permission (<see cref="IClientCallAuthorizer"/>).</summary>
        public const string Identity = "identity";
    }

    /// <inheritdoc/>
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);

        // Removed in this async scope, the one that calls context.Invoke(): the grain method and everything
        // it calls run without the proof.
        var presented = RequestContext.Get(ClusterProof.RequestContextKey);
        if (presented is not null)
        {
            RequestContext.Remove(ClusterProof.RequestContextKey);
        }

        // A call to an object of this silo's own client (an observer of code running in the silo) is not a
        // call into a grain: grains call observers without the proof, by design.
        if (!proof.Verify(presented) && !context.TargetId.IsClient())
        {
            var rule = context.InterfaceMethod is { } method
                ? _rules.GetOrAdd(method, RuleFor)
                : RuleFor(context.InterfaceName, context.MethodName);
            if (Refusal(context, rule) is { } refusal)
            {
                // The authorizer logs and counts its own refusals (with the identity and the code).
                if (refusal.Reason != Reasons.Identity)
                {
                    Report(context, rule, refusal.Reason, forgedProof: presented is not null);
                }

                throw refusal.Error;
            }
        }

        await context.Invoke();
    }

    private (PermissionDeniedException Error, string Reason)? Refusal(IIncomingGrainCallContext context, CallRule rule)
    {
        switch (rule.Kind)
        {
            case CallKind.LocalTimerTick when context.SourceId == context.TargetId:
                return null;
            case CallKind.Internal:
                return (new PermissionDeniedException(ErrorCodes.PermissionDenied, rule.Name, Permission.Internal,
                    $"{rule.Name} is a step between silos of the cluster; clients cannot call it"), Reasons.Internal);
            case CallKind.Open:
                return rule.Permission is { } permission && authorizer.Authorize(context, permission, rule.Name) is { } denied
                    ? (denied, Reasons.Identity)
                    : null;
            default:
                return (new PermissionDeniedException(ErrorCodes.PermissionDenied, rule.Name, Permission.Internal,
                    $"{rule.Name} is not open to clients"), Reasons.ClosedToClients);
        }
    }

    private void Report(IIncomingGrainCallContext context, CallRule rule, string reason, bool forgedProof)
    {
        metrics.DeniedCalls.Add(1, new KeyValuePair<string, object?>("method", rule.Name), new KeyValuePair<string, object?>("reason", reason));
        var source = context.SourceId?.ToString() ?? "unknown";
        if (_reported.TryAdd((rule.Name, reason), true))
        {
            SecurityLog.ClientCallRefused(logger, rule.Name, reason, source, context.TargetId.ToString(), forgedProof);
        }
        else
        {
            SecurityLog.ClientCallRefusedAgain(logger, rule.Name, reason, source, context.TargetId.ToString(), forgedProof);
        }
    }

    private enum CallKind
    {
        Internal,
        Open,
        ClosedToClients,
        LocalTimerTick,
    }

    private CallRule RuleFor(MethodInfo method)
    {
        var declaring = method.DeclaringType;
        if (GrainPermissions.IsGranaryInterface(declaring))
        {
            // Unmarked counts as internal (the convention tests refuse unmarked methods anyway).
            var permission = GrainPermissions.Of(method) ?? Permission.Internal;
            return new($"{declaring!.FullName}.{method.Name}", permission == Permission.Internal ? CallKind.Internal : CallKind.Open, permission);
        }

        return RuleFor(declaring?.FullName ?? "unknown", method.Name);
    }

    private CallRule RuleFor(string interfaceName, string methodName)
    {
        var name = $"{interfaceName}.{methodName}";
        if (name == ClientOpenOrleansCalls.TimerTick)
        {
            return new(name, CallKind.LocalTimerTick, null);
        }

        return open.Value.TryGet(interfaceName, methodName, out var permission)
            ? new(name, CallKind.Open, permission)
            : new(name, CallKind.ClosedToClients, null);
    }

    /// <summary>What a client call to one method needs (computed once per method).</summary>
    private sealed record CallRule(string Name, CallKind Kind, Permission? Permission);
}
