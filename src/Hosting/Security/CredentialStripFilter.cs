namespace Granary.Hosting.Security;

/// <summary>
/// Keeps a client's credential from leaving the silo: a call the silo makes (to a grain, to storage,
/// to a client's observer) never carries one. The check takes the credential out before the called
/// method runs, but Orleans activates a grain with the request context of the call that woke it,
/// so activation code (and the calls it makes) could otherwise see and forward it. The usual call
/// has no credential and costs one lookup.
/// </summary>
public sealed class CredentialStripFilter : IOutgoingGrainCallFilter
{
    /// <inheritdoc/>
    public Task Invoke(IOutgoingGrainCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return RequestContext.Get(ClientCredentials.TokenKey) is null && RequestContext.Get(ClientCredentials.AssertionKey) is null
            ? context.Invoke()
            : InvokeWithoutCredentialAsync(context);
    }

    private static async Task InvokeWithoutCredentialAsync(IOutgoingGrainCallContext context)
    {
        // Removed inside this asynchronous method: the caller's own context is left as it was.
        RequestContext.Remove(ClientCredentials.TokenKey);
        RequestContext.Remove(ClientCredentials.AssertionKey);
        await context.Invoke();
    }
}
