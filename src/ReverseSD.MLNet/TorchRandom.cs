namespace ReverseSD.MLNet;

/// <summary>
/// torch's default random generator is shared by the whole process: module initialisation, dropout and
/// <c>torch.manual_seed</c> all use it. Every seeded use holds <see cref="Gate"/> from seeding to its last draw, so
/// concurrent trainings (tests run in parallel; an app may train several models) cannot shift each other's numbers.
/// Code that can take an explicit <c>torch.Generator</c> does so instead.
/// </summary>
internal static class TorchRandom
{
    /// <summary>The process-wide lock around every use of torch's default generator.</summary>
    public static readonly Lock Gate = new();
}
