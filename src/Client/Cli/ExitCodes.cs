namespace Granary.Cli.Cli;

/// <summary>Process exit codes of <c>granary</c>.</summary>
public static class ExitCodes
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The command ran and failed (a refused request, an unreachable cluster, a failed check).</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;

    /// <summary>Transport security stopped the connection: TLS settings invalid, the cluster refused the console's certificate or wants TLS the console does not have, or the other way round.</summary>
    public const int TransportSecurity = 3;
}
