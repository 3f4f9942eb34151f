"""zoo: Keras 3 models with verified deployment exports.

```python
import zoo
from zoo import resnet50
model = resnet50(weights=None)
zoo.list_models("resnet*")
```
"""

__version__ = "0.1.0"

from zoo import layers, weights
from zoo.registry import (
    create_model,
    get_spec,
    list_families,
    list_models,
    model_info,
    register_model,
)
from zoo.resnet import (
    CifarResNet,
    ResNet,
    resnet8,
    resnet18,
    resnet20,
    resnet32,
    resnet34,
    resnet44,
    resnet50,
    resnet56,
    resnet101,
    resnet110,
    resnet152,
    resnet_tiny,
)
from zoo.densenet import (
    DenseNet,
    densenet121,
    densenet169,
    densenet201,
    densenet_bc_100_k12,
    densenet_tiny,
)
from zoo.mlp import MLP, mlp, mlp_tiny
from zoo.rnn import (
    RNNClassifier,
    RNNForecaster,
    gru_classifier,
    gru_classifier_tiny,
    gru_forecaster,
    lstm_attention_classifier,
    lstm_classifier,
    lstm_classifier_tiny,
    lstm_forecaster,
    lstm_forecaster_tiny,
)
from zoo.transformer import (
    TransformerClassifier,
    TransformerSeq2Seq,
    greedy_decode,
    transformer_classifier,
    transformer_seq2seq,
    transformer_seq2seq_tiny,
    transformer_tiny,
)
