using Granary.Security;

namespace Granary.Server.Security;

/// <summary>
/// Decides whether a call that came from a client connection may run. The wall (the incoming call
/// filter that tells client calls from calls between silos) asks it for every client call to a
/// method whose permission is not <see cref="Permission.Internal"/> (those are refused before it
/// is asked). Calls between silos never reach it.
/// </summary>
public interface IClientCallAuthorizer
{
    /// <summary>
    /// Null when the call may run; otherwise the error the caller gets (nothing is called). The
    /// authorizer logs and counts its own refusals (the wall does not count them again).
    /// </summary>
    /// <param name="context">The call.</param>
    /// <param name="permission">The permission the method needs.</param>
    /// <param name="method">The method, as <c>Interface.Method</c>.</param>
    PermissionDeniedException? Authorize(IIncomingGrainCallContext context, Permission permission, string method);
}

/// <summary>
/// The authorizer when no identities are configured: every client call to a public method runs
/// (internal methods are still refused by the wall).
/// </summary>
public sealed class AllowAllClientCalls : IClientCallAuthorizer
{
    /// <inheritdoc/>
    public PermissionDeniedException? Authorize(IIncomingGrainCallContext context, Permission permission, string method) => null;
}
