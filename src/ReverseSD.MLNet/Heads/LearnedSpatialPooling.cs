using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Heads;

/// <summary>
/// The learned pooling in front of the heads when the features are a feature map (issue 14, e.g. backbone resnet18-map): the input
/// [N, K·P] is the map flattened channel-major (K channels over P positions); every position's K channels are projected to C with
/// one shared linear map (a 1×1 convolution), and the output [N, K + P·C] is the average over positions (the usual pooled
/// features) followed by the projections of every position, position-major. Global average pooling keeps no "where";
/// this keeps it in P·C numbers instead of the map's K·P.
/// </summary>
internal sealed class LearnedSpatialPooling : nn.Module<Tensor, Tensor>
{
    private readonly Linear _projection;
    private readonly Dropout _dropout;

    /// <summary>The pooling; <paramref name="dropout"/> drops projected values while training (none at inference).</summary>
    public LearnedSpatialPooling(int mapChannels, int positions, int channels, double dropout = 0) : base("spatial_pooling")
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mapChannels, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(positions, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 1);
        MapChannels = mapChannels;
        Positions = positions;
        Channels = channels;
        _projection = nn.Linear(mapChannels, channels);
        _dropout = nn.Dropout(dropout);
        RegisterComponents();
    }

    /// <summary>K, the channels of the input map.</summary>
    public int MapChannels { get; }

    /// <summary>P, the positions of the input map (e.g. 7 × 7 = 49).</summary>
    public int Positions { get; }

    /// <summary>C, the channels each position is projected to.</summary>
    public int Channels { get; }

    /// <summary>Length of the output: K pooled values + P·C projections.</summary>
    public int OutputSize => MapChannels + Positions * Channels;

    /// <summary>The shared per-position projection (weight [C, K]).</summary>
    public Linear Projection => _projection;

    public override Tensor forward(Tensor features)
    {
        var map = features.view(-1, MapChannels, Positions);
        var pooled = map.mean([2]);
        var projected = _dropout.call(_projection.call(map.transpose(1, 2)).flatten(1));
        return torch.cat([pooled, projected], 1);
    }
}
