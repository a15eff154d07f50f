using Granary.Client.Security;
namespace Granary.Server.Security;

/// <summary>
/// The silo's outgoing call filter: every call this silo makes to a grain or a system target (from a
/// grain, a timer, a reminder, a system target, a hosted service or the silo's own in-process client)
/// carries the <see cref="ClusterProof"/>; a call to a client or a client's observer never does, even
/// when the ambient request context holds one (an activation's start-up runs in the context of the call
/// that activated it). The proof is set inside this filter's own async scope, so the caller's context
/// never holds it after the call. For the same reason no call a silo makes carries a client's
/// credential (<see cref="ClientCredentials"/>): the wall takes it out before the called method runs,
/// but activation code runs in the waking call's context and could otherwise forward it.
/// </summary>
public sealed class ClusterProofStamp(ClusterProof proof) : IOutgoingGrainCallFilter
{
    /// <inheritdoc/>
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.TargetId.IsClient())
        {
            RequestContext.Remove(ClusterProof.RequestContextKey);
        }
        else
        {
            RequestContext.Set(ClusterProof.RequestContextKey, proof.Value);
        }

        RequestContext.Remove(ClientCredentials.TokenKey);
        RequestContext.Remove(ClientCredentials.AssertionKey);
        await context.Invoke();
    }
}
