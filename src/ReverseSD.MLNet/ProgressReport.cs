namespace ReverseSD.MLNet;

/// <summary>
/// A step of long work (featurising, training epochs, k-means), reported through <see cref="IProgress{T}"/>;
/// <see cref="Total"/> is 0 when unknown, and <see cref="Message"/> carries per-step figures such as losses.
/// </summary>
public sealed record ProgressReport(string Stage, long Done, long Total, string? Message = null);
