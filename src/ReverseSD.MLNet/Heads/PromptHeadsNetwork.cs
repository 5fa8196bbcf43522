using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Heads;

/// <summary>
/// A fully connected head: one linear layer (the paper's heads), or an MLP as the official CLIP head
/// (Linear → GELU → BatchNorm → Dropout per hidden layer, then a final Linear).
/// </summary>
internal sealed class DenseHead : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> _hidden;
    private readonly ModuleList<BatchNorm1d> _norms;
    private readonly Dropout _dropout;
    private readonly GELU _gelu;
    private readonly Linear _output;

    public DenseHead(string name, int inputs, IReadOnlyList<int> hiddenSizes, int outputs, double dropout) : base(name)
    {
        var hidden = new List<Linear>();
        var norms = new List<BatchNorm1d>();
        int width = inputs;
        foreach (int size in hiddenSizes)
        {
            hidden.Add(nn.Linear(width, size));
            norms.Add(nn.BatchNorm1d(size));
            width = size;
        }
        _hidden = nn.ModuleList(hidden.ToArray());
        _norms = nn.ModuleList(norms.ToArray());
        _dropout = nn.Dropout(dropout);
        _gelu = nn.GELU();
        _output = nn.Linear(width, outputs);
        RegisterComponents();
    }

    /// <summary>The hidden layers with their batch norms, in order.</summary>
    public IEnumerable<(Linear Linear, BatchNorm1d Norm)> HiddenLayers => _hidden.Zip(_norms);

    /// <summary>The final linear layer.</summary>
    public Linear OutputLayer => _output;

    public override Tensor forward(Tensor x)
    {
        for (int i = 0; i < _hidden.Count; i++)
            x = _dropout.call(_norms[i].call(_gelu.call(_hidden[i].call(x))));
        return _output.call(x);
    }
}

/// <summary>
/// The trainable part of the model (paper §3, Fig. 3): an embedding head f(x) and, except in the vanilla
/// configuration, a single-layer vocabulary head whose input depends on the <see cref="HeadConfiguration"/>;
/// with a feature map as input, a <see cref="LearnedSpatialPooling"/> in front of both.
/// Returns the unnormalised embedding and the vocabulary logits (null for vanilla).
/// </summary>
internal sealed class PromptHeadsNetwork : nn.Module<Tensor, (Tensor Embedding, Tensor? VocabularyLogits)>
{
    private readonly LearnedSpatialPooling? _spatialPooling;
    private readonly DenseHead _embedding;
    private readonly Linear? _vocabulary;

    /// <summary>
    /// The network; with <paramref name="spatialPooling"/> = (K, C, dropout) the <paramref name="featureSize"/> inputs are a K-channel feature map
    /// (featureSize / K positions) pooled by a <see cref="LearnedSpatialPooling"/> to C channels per position.
    /// </summary>
    public PromptHeadsNetwork(HeadConfiguration configuration, int featureSize, int embeddingSize, int vocabularySize,
        IReadOnlyList<int> hiddenSizes, double dropout, (int MapChannels, int Channels, double Dropout)? spatialPooling = null) : base("prompt_heads")
    {
        Configuration = configuration;
        FeatureSize = featureSize;
        EmbeddingSize = embeddingSize;
        VocabularySize = configuration == HeadConfiguration.Vanilla ? 0 : vocabularySize;
        if (spatialPooling is { } pooling)
        {
            if (featureSize % pooling.MapChannels != 0)
                throw new ArgumentException($"{featureSize} features are not a feature map of {pooling.MapChannels} channels.", nameof(featureSize));
            _spatialPooling = new LearnedSpatialPooling(pooling.MapChannels, featureSize / pooling.MapChannels, pooling.Channels, pooling.Dropout);
            featureSize = _spatialPooling.OutputSize;
        }
        int embeddingInputs = configuration == HeadConfiguration.VocabularyFeedsEmbedding ? featureSize + vocabularySize : featureSize;
        _embedding = new DenseHead("embedding", embeddingInputs, hiddenSizes, embeddingSize, dropout);
        if (configuration != HeadConfiguration.Vanilla)
        {
            int vocabularyInputs = configuration == HeadConfiguration.EmbeddingFeedsVocabulary ? embeddingSize : featureSize;
            _vocabulary = nn.Linear(vocabularyInputs, vocabularySize);
        }
        RegisterComponents();
    }

    public HeadConfiguration Configuration { get; }

    public int FeatureSize { get; }

    public int EmbeddingSize { get; }

    /// <summary>Number of vocabulary words m (0 for vanilla).</summary>
    public int VocabularySize { get; }

    public DenseHead EmbeddingHead => _embedding;

    /// <summary>The learned pooling of a feature-map input; null when the input is a feature vector.</summary>
    public LearnedSpatialPooling? SpatialPooling => _spatialPooling;

    public Linear? VocabularyHead => _vocabulary;

    public override (Tensor Embedding, Tensor? VocabularyLogits) forward(Tensor features)
    {
        if (_spatialPooling != null) features = _spatialPooling.call(features);
        switch (Configuration)
        {
            case HeadConfiguration.Vanilla:
                return (_embedding.call(features), null);
            case HeadConfiguration.Independent:
                return (_embedding.call(features), _vocabulary!.call(features));
            case HeadConfiguration.VocabularyFeedsEmbedding:
            {
                var logits = _vocabulary!.call(features);
                return (_embedding.call(torch.cat([features, logits], 1)), logits);
            }
            case HeadConfiguration.EmbeddingFeedsVocabulary:
            {
                var embedding = _embedding.call(features);
                return (embedding, _vocabulary!.call(embedding));
            }
            default:
                throw new InvalidOperationException($"Unknown head configuration {Configuration}.");
        }
    }
}
