using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.FineTuning;

/// <summary>
/// A convolution without bias whose padding is given as ONNX gives it, [top, left, bottom, right]: CNTK's ResNet18 pads
/// its stride-2 convolutions more at the start than at the end, which a symmetric padding reproduces only for even sizes.
/// </summary>
internal sealed class PaddedConv2d : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d _conv;
    private readonly long[]? _pad;

    public PaddedConv2d(string name, long inputs, long outputs, long kernel, long stride, long[] onnxPads) : base(name)
    {
        Kernel = kernel;
        Stride = stride;
        OnnxPads = onnxPads;
        bool symmetric = onnxPads.All(p => p == onnxPads[0]);
        _conv = nn.Conv2d(inputs, outputs, kernel, stride: stride, padding: symmetric ? onnxPads[0] : 0, bias: false);
        // torch's pad order is (left, right, top, bottom).
        _pad = symmetric ? null : [onnxPads[1], onnxPads[3], onnxPads[0], onnxPads[2]];
        RegisterComponents();
    }

    public long Kernel { get; }

    public long Stride { get; }

    /// <summary>Padding in ONNX order: top, left, bottom, right.</summary>
    public long[] OnnxPads { get; }

    /// <summary>The weight [out, in, k, k].</summary>
    public Parameter Weight => _conv.weight!;

    public override Tensor forward(Tensor x) => _conv.call(_pad == null ? x : nn.functional.pad(x, _pad));
}

/// <summary>ResNet's basic block: conv3×3 → BN → ReLU → conv3×3 → BN, plus the input (through a 1×1 conv + BN when it changes shape), → ReLU.</summary>
internal sealed class ResNetBasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly PaddedConv2d _conv1;
    private readonly BatchNorm2d _norm1;
    private readonly PaddedConv2d _conv2;
    private readonly BatchNorm2d _norm2;
    private readonly PaddedConv2d? _downsample;
    private readonly BatchNorm2d? _downsampleNorm;

    public ResNetBasicBlock(string name, long inputs, long outputs, long stride) : base(name)
    {
        // CNTK's export pads a stride-2 3×3 convolution by 1 at the start only.
        _conv1 = new PaddedConv2d("conv1", inputs, outputs, 3, stride, stride == 1 ? [1, 1, 1, 1] : [1, 1, 0, 0]);
        _norm1 = nn.BatchNorm2d(outputs, eps: ResNet18Network.BatchNormEpsilon);
        _conv2 = new PaddedConv2d("conv2", outputs, outputs, 3, 1, [1, 1, 1, 1]);
        _norm2 = nn.BatchNorm2d(outputs, eps: ResNet18Network.BatchNormEpsilon);
        if (stride != 1 || inputs != outputs)
        {
            _downsample = new PaddedConv2d("downsample", inputs, outputs, 1, stride, [0, 0, 0, 0]);
            _downsampleNorm = nn.BatchNorm2d(outputs, eps: ResNet18Network.BatchNormEpsilon);
        }
        RegisterComponents();
    }

    public PaddedConv2d Conv1 => _conv1;

    public BatchNorm2d Norm1 => _norm1;

    public PaddedConv2d Conv2 => _conv2;

    public BatchNorm2d Norm2 => _norm2;

    public PaddedConv2d? Downsample => _downsample;

    public BatchNorm2d? DownsampleNorm => _downsampleNorm;

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var y = nn.functional.relu(_norm1.call(_conv1.call(x)));
        y = _norm2.call(_conv2.call(y));
        var shortcut = _downsample == null ? x : _downsampleNorm!.call(_downsample.call(x));
        return nn.functional.relu(y + shortcut).MoveToOuterDisposeScope();
    }
}

/// <summary>What <see cref="ResNet18Network.ForwardFromLayer3"/> outputs: the features of the resnet18, resnet18-grid or resnet18-map graph.</summary>
internal enum ResNet18Features
{
    /// <summary>The 512 globally pooled features (resnet18).</summary>
    Pooled,

    /// <summary>The pooled features followed by the 3×3 grid of the last feature map (resnet18-grid).</summary>
    PooledAndGrid,

    /// <summary>The last feature map [512, 7, 7] flattened channel-major (resnet18-map).</summary>
    Map,
}

/// <summary>
/// ResNet18 in TorchSharp, laid out as ML.NET's ImageNet ResNet18 (CNTK export, Microsoft.ML.DnnImageFeaturizer.ResNet18):
/// 7×7 stem, max pool, four layers of basic blocks (64, 128, 256, 512 channels; 2, 2, 2 and 3 blocks: the CNTK model has
/// one more block in its last layer than TorchVision's ResNet18), global average pool → 512 features.
/// Its weights come from that ONNX graph (<see cref="ResNet18OnnxWeights"/>); the input is the graph's normalised input.
/// Split at layer 3 so that layer 4 can be fine-tuned on cached layer-3 activations.
/// </summary>
internal sealed class ResNet18Network : nn.Module<Tensor, Tensor>
{
    /// <summary>Length of the pooled feature vector.</summary>
    public const int FeatureSize = 512;

    /// <summary>Channels of the layer-3 activations.</summary>
    public const int Layer3Channels = 256;

    /// <summary>The BatchNormalization epsilon of the ONNX graph.</summary>
    public const double BatchNormEpsilon = 1e-5;

    private readonly PaddedConv2d _stem;
    private readonly BatchNorm2d _stemNorm;
    private readonly ModuleList<ResNetBasicBlock> _layer1;
    private readonly ModuleList<ResNetBasicBlock> _layer2;
    private readonly ModuleList<ResNetBasicBlock> _layer3;
    private readonly ModuleList<ResNetBasicBlock> _layer4;

    public ResNet18Network() : base("resnet18")
    {
        _stem = new PaddedConv2d("stem", 3, 64, 7, 2, [3, 3, 2, 2]);
        _stemNorm = nn.BatchNorm2d(64, eps: BatchNormEpsilon);
        _layer1 = Layer(64, 64, 1, 2);
        _layer2 = Layer(64, 128, 2, 2);
        _layer3 = Layer(128, Layer3Channels, 2, 2);
        _layer4 = Layer(Layer3Channels, FeatureSize, 2, 3);
        RegisterComponents();
    }

    /// <summary>The stem convolution.</summary>
    public PaddedConv2d Stem => _stem;

    /// <summary>The stem's batch norm.</summary>
    public BatchNorm2d StemNorm => _stemNorm;

    /// <summary>Layers 1..4 (index 0..3) and their blocks.</summary>
    public IReadOnlyList<IReadOnlyList<ResNetBasicBlock>> Layers => [_layer1.ToArray(), _layer2.ToArray(), _layer3.ToArray(), _layer4.ToArray()];

    /// <summary>The last layer, the one <c>--finetune layer4</c> trains.</summary>
    public ModuleList<ResNetBasicBlock> Layer4 => _layer4;

    /// <summary>Normalised images [N,3,H,W] → layer-3 activations [N,256,H/16,W/16].</summary>
    public Tensor ForwardToLayer3(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        var x = nn.functional.relu(_stemNorm.call(_stem.call(input)));
        // ONNX MaxPool pads [1,1,0,0]: pad the start with −∞ (the values are ≥ 0 after the ReLU, so a pad never wins).
        x = nn.functional.max_pool2d(nn.functional.pad(x, [1, 0, 1, 0], PaddingModes.Constant, double.NegativeInfinity), 3, 2);
        foreach (var layer in new[] { _layer1, _layer2, _layer3 })
            foreach (var block in layer)
                x = block.call(x);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Layer-3 activations → layer 4 → the features <paramref name="output"/> names, laid out as that backbone's graph writes them:
    /// the global average pool [N, 512] (resnet18); followed by the last feature map average-pooled over 3×3 cells with stride 2
    /// ([N, 512 + 512·cells], resnet18-grid); or the last feature map itself flattened channel-major ([N, 512·H·W], resnet18-map).
    /// </summary>
    public Tensor ForwardFromLayer3(Tensor layer3, ResNet18Features output = ResNet18Features.Pooled)
    {
        using var scope = torch.NewDisposeScope();
        var x = layer3;
        foreach (var block in _layer4)
            x = block.call(x);
        if (output == ResNet18Features.Map) return x.flatten(1).MoveToOuterDisposeScope();
        var pooled = x.mean([2L, 3L]);
        if (output == ResNet18Features.Pooled) return pooled.MoveToOuterDisposeScope();
        var grid = nn.functional.avg_pool2d(x, 3, 2).flatten(1);
        return torch.cat([pooled, grid], 1).MoveToOuterDisposeScope();
    }

    /// <summary>Normalised images [N,3,H,W] → features [N, 512].</summary>
    public override Tensor forward(Tensor input)
    {
        using var scope = torch.NewDisposeScope();
        return ForwardFromLayer3(ForwardToLayer3(input)).MoveToOuterDisposeScope();
    }

    private static ModuleList<ResNetBasicBlock> Layer(long inputs, long outputs, long stride, int blocks) =>
        nn.ModuleList(Enumerable.Range(0, blocks)
            .Select(b => new ResNetBasicBlock($"block{b}", b == 0 ? inputs : outputs, outputs, b == 0 ? stride : 1)).ToArray());
}
